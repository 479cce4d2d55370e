"""LoRA files on disk: `models/Lora` and `--lora-dir` (A1111's `networks.list_available_networks`).

Name = file stem; alias = `ss_output_name` from the safetensors metadata (else the name). The short hash in
the infotext ("Lora hashes") follows A1111 `NetworkOnDisk`: `sshs_model_hash` from the metadata, else the
kohya "addnet" hash (sha256 of the file after the safetensors header) for .safetensors, else the file sha256;
the first 12 hex characters.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from modules.errors import ModelLoadError
from modules.model_registry.safe_load import read_safetensors_metadata

logger = logging.getLogger(__name__)
LORA_SUFFIXES = (".safetensors", ".pt", ".ckpt")
# A1111 network.metadata_tags_order: these metadata keys come first in /loras
_METADATA_ORDER = {"ss_sd_model_name": 1, "ss_resolution": 2, "ss_clip_skip": 3, "ss_num_train_images": 10,
                   "ss_tag_frequency": 20}


def _parse_metadata(raw: dict[str, str]) -> dict[str, object]:
    """A1111 `read_metadata_from_safetensors`: values that look like JSON objects are decoded."""
    out: dict[str, object] = {}
    for key, value in sorted(raw.items(), key=lambda kv: _METADATA_ORDER.get(kv[0], 999)):
        if key == "ssmd_cover_images":  # A1111 drops cover images (too big)
            continue
        if isinstance(value, str) and value[:1] == "{":
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def addnet_hash_safetensors(path: Path) -> str:
    """kohya-ss hash: sha256 of a .safetensors file without its 8-byte length + JSON header."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        header_len = int.from_bytes(handle.read(8), "little")
        handle.seek(8 + header_len)
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class LoraOnDisk:
    """One LoRA file: `name` (stem), `alias`, absolute `path`, parsed safetensors `metadata`."""

    name: str
    alias: str
    path: Path
    metadata: dict[str, object] = field(default_factory=dict)
    hashing: bool = True  # False with --no-hashing: no hash, no "Lora hashes"
    _hash: str | None = None
    _stamp: tuple[float, int] | None = None

    @property
    def is_safetensors(self) -> bool:
        return self.path.suffix.lower() == ".safetensors"

    @property
    def stamp(self) -> tuple[float, int]:
        """(mtime, size): the cached tensors and hash are reused while this is unchanged."""
        stat = self.path.stat()
        return stat.st_mtime, stat.st_size

    @property
    def hash(self) -> str:
        """A1111's network hash (computed once per file version)."""
        stamp = self.stamp
        if self._hash is None or self._stamp != stamp:
            meta_hash = self.metadata.get("sshs_model_hash")
            if isinstance(meta_hash, str) and meta_hash:
                self._hash = meta_hash
            elif self.is_safetensors:
                self._hash = addnet_hash_safetensors(self.path)
            else:
                digest = hashlib.sha256()
                with open(self.path, "rb") as handle:
                    while block := handle.read(1 << 20):
                        digest.update(block)
                self._hash = digest.hexdigest()
            self._stamp = stamp
        return self._hash

    @property
    def shorthash(self) -> str | None:
        """First 12 characters of `hash` (A1111 `NetworkOnDisk.shorthash`); None with --no-hashing."""
        return self.hash[:12] if self.hashing else None

    def as_api(self) -> dict:
        """The `/sdapi/v1/loras` item."""
        return {"name": self.name, "alias": self.alias, "path": str(self.path), "metadata": self.metadata}


class LoraRegistry:
    """Scans the LoRA folders; looks networks up by name or alias (name wins, as A1111)."""

    def __init__(self, lora_dirs: tuple[Path, ...] | list[Path], *, hashing: bool = True):
        self.lora_dirs = [Path(d) for d in lora_dirs]
        self.hashing = hashing
        self._lock = threading.RLock()
        self._by_name: dict[str, LoraOnDisk] = {}
        self._by_alias: dict[str, LoraOnDisk] = {}

    def refresh(self) -> None:
        """Rescan every folder (recursively); files that cannot be read are logged and left out."""
        found: dict[str, LoraOnDisk] = {}
        for folder in self.lora_dirs:
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*"), key=lambda p: str(p).lower()):
                if path.suffix.lower() not in LORA_SUFFIXES or not path.is_file():
                    continue
                metadata: dict[str, object] = {}
                if path.suffix.lower() == ".safetensors":
                    try:
                        metadata = _parse_metadata(read_safetensors_metadata(path))
                    except ModelLoadError as exc:
                        logger.warning("skipping LoRA %s: %s", path, exc.message)
                        continue
                alias = metadata.get("ss_output_name")
                entry = LoraOnDisk(path.stem, alias if isinstance(alias, str) and alias else path.stem,
                                   path.resolve(), metadata, hashing=self.hashing)
                previous = self._by_name.get(entry.name)
                if previous is not None and previous.path == entry.path:
                    entry._hash, entry._stamp = previous._hash, previous._stamp
                found.setdefault(entry.name, entry)
        with self._lock:
            self._by_name = found
            self._by_alias = {}
            for entry in found.values():
                self._by_alias.setdefault(entry.alias, entry)
        logger.info("found %d LoRA file(s)", len(found))

    def list(self) -> list[LoraOnDisk]:
        with self._lock:
            return list(self._by_name.values())

    def find(self, name: str) -> LoraOnDisk | None:
        """By file stem, then alias; rescans once if not found (A1111 `load_networks`)."""
        entry = self._lookup(name)
        if entry is None:
            self.refresh()
            entry = self._lookup(name)
        if entry is not None and not os.path.exists(entry.path):
            return None
        return entry

    def _lookup(self, name: str) -> LoraOnDisk | None:
        with self._lock:
            return self._by_name.get(name) or self._by_alias.get(name)
