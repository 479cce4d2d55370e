"""Textual-inversion embeddings on disk (`embeddings/` and `--embeddings-dir`), split per loaded model.

A1111 `EmbeddingDatabase`: name = file stem; an embedding whose width does not fit the loaded model's text
encoder(s) is "skipped". The infotext "TI hashes" uses sha256(file)[:12].
"""
from __future__ import annotations

import logging
import threading
import weakref
from pathlib import Path

from modules.engine.embeddings import EMBEDDING_SUFFIXES, Embedding, EmbeddingTokens, read_embedding
from modules.errors import ModelLoadError
from modules.model_registry.hashes import sha256_file

logger = logging.getLogger(__name__)


def encoder_widths(pipe: object) -> list[int]:
    """Hidden sizes of the pipe's text encoder(s), in encoder order."""
    widths = []
    for attr in ("text_encoder", "text_encoder_2"):
        encoder = getattr(pipe, attr, None)
        if encoder is not None:
            widths.append(int(encoder.get_input_embeddings().weight.shape[-1]))
    return widths


class EmbeddingRegistry:
    """Reads every embedding file once (re-read on refresh or when the folders change)."""

    def __init__(self, embeddings_dirs: tuple[Path, ...] | list[Path], hash_cache_file: Path | None = None, *,
                 hashing: bool = True):
        self.embeddings_dirs = [Path(d) for d in embeddings_dirs]
        self.hash_cache_file = hash_cache_file
        self.hashing = hashing  # False with --no-hashing: no "TI hashes"
        self._lock = threading.RLock()
        self._embeddings: dict[str, Embedding] = {}
        self._errors: dict[str, str] = {}
        self._signature: tuple = ()
        self._per_model: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _scan_signature(self) -> tuple:
        files = []
        for folder in self.embeddings_dirs:
            if folder.is_dir():
                for path in folder.rglob("*"):
                    if path.suffix.lower() in EMBEDDING_SUFFIXES and path.is_file():
                        stat = path.stat()
                        files.append((str(path), stat.st_mtime, stat.st_size))
        return tuple(sorted(files))

    @property
    def signature(self) -> tuple:
        """(path, mtime, size) of every embedding file read (what --result-cache keys on)."""
        return self._signature

    def refresh(self, force: bool = True) -> None:
        """Re-read the folders (only if a file changed unless `force`)."""
        signature = self._scan_signature()
        with self._lock:
            if not force and signature == self._signature:
                return
            found: dict[str, Embedding] = {}
            errors: dict[str, str] = {}
            for path_str, _mtime, _size in signature:
                path = Path(path_str)
                if path.stem in found:
                    continue
                try:
                    found[path.stem] = read_embedding(path)
                except ModelLoadError as exc:
                    errors[path.stem] = exc.message
                    logger.warning("skipping embedding %s: %s", path, exc.message)
            self._embeddings, self._errors, self._signature = found, errors, signature
            self._per_model = weakref.WeakKeyDictionary()
        logger.info("found %d textual-inversion embedding(s)", len(found))

    def split(self, pipe: object) -> tuple[dict[str, Embedding], dict[str, Embedding]]:
        """(loaded, skipped) for the pipe's text encoder widths."""
        self.refresh(force=False)
        widths = encoder_widths(pipe)
        with self._lock:
            loaded = {n: e for n, e in self._embeddings.items() if e.fits(widths)}
            skipped = {n: e for n, e in self._embeddings.items() if n not in loaded}
        return loaded, skipped

    def lookup(self, pipe: object) -> EmbeddingTokens | None:
        """A fresh `EmbeddingLookup` (its own `used` record) for the pipe, or None without usable embeddings."""
        self.refresh(force=False)
        key = pipe.text_encoder
        with self._lock:
            tables = self._per_model.get(key)
            if tables is None:
                loaded, _ = self.split(pipe)
                tokenizers = [t for t in (getattr(pipe, "tokenizer", None), getattr(pipe, "tokenizer_2", None))
                              if t is not None]
                tables = EmbeddingTokens.build(tokenizers, list(loaded.values())).by_first_token
                self._per_model[key] = tables
        if not any(tables):
            return None
        return EmbeddingTokens(tables)

    def shorthash(self, embedding: Embedding) -> str:
        """sha256 of the file, first 12 hex characters (A1111 `Embedding.shorthash`)."""
        if embedding.sha256 is None:
            if self.hash_cache_file is not None:
                embedding.sha256 = sha256_file(embedding.path, self.hash_cache_file)
            else:
                from modules.model_registry.hashes import compute_sha256

                embedding.sha256 = compute_sha256(embedding.path)
        return embedding.sha256[:12]

    def api_listing(self, pipe: object | None) -> dict:
        """The `/sdapi/v1/embeddings` body; without a loaded model every embedding is listed as skipped."""
        if pipe is None:
            self.refresh(force=False)
            with self._lock:
                return {"loaded": {}, "skipped": {n: e.as_api() for n, e in self._embeddings.items()}}
        loaded, skipped = self.split(pipe)
        return {"loaded": {n: e.as_api() for n, e in loaded.items()},
                "skipped": {n: e.as_api() for n, e in skipped.items()}}
