"""The converted-model cache: single-file checkpoints kept in diffusers layout, in the dtypes they run in.

An entry is one flat .safetensors file, `<cache dir>/converted/<sha256 of the checkpoint>-<dtypes>.safetensors`,
holding the tensors each module takes under the module's own keys (`unet/...`, `vae/...`, `text_encoder/...`) in
the dtypes of the load that wrote it (e.g. `f32-f32-f32` for the UNet, VAE and text encoders), with the configs,
family and the file's prediction type in its metadata. A later load in the same dtypes maps the entry's tensors
straight into the modules (copy-on-write mappings: nothing is converted, cast, allocated or copied; the load
costs what reading the file from the disk costs); a load in other dtypes casts from it once.
Lookup goes through the hash cache (hashes.py): the checkpoint's path, size and mtime give its sha256 without
reading it; a changed file has no cached hash, so its old entries are not used, and they are removed when the
file is stored again. The cache is bounded: least recently used entries go first.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from modules.errors import ModelLoadError
from modules.model_registry.converted import ConvertedModel
from modules.model_registry.hashes import cached_sha256, sha256_file
from modules.model_registry.tensor_file import SafetensorsFile, dtype_name, open_safetensors, tensor_bytes

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the conversion changes: older entries are then ignored and replaced
META_KEY = "easel_converted"
SUFFIX = ".safetensors"
GIB = 1024 ** 3


def _write_all(fd: int, data: memoryview | bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _copy_range(src_fd: int, dst_fd: int, offset: int, count: int) -> None:
    """Copy `count` bytes at `offset` of src to the current end of dst (in the kernel where possible)."""
    done = 0
    if hasattr(os, "copy_file_range"):
        try:
            while done < count:
                got = os.copy_file_range(src_fd, dst_fd, count - done, offset + done)
                if got <= 0:
                    break
                done += got
        except OSError as exc:  # EXDEV/ENOSYS/EINVAL on some file systems: fall back to read + write
            log.debug("copy_file_range unavailable (%s); copying through user space", exc)
    while done < count:
        chunk = os.pread(src_fd, min(16 << 20, count - done), offset + done)
        if not chunk:
            raise OSError("source ended early")
        _write_all(dst_fd, chunk)
        done += len(chunk)


def write_safetensors(path: Path, tensors: Mapping[str, Tensor], metadata: Mapping[str, str],
                      source: SafetensorsFile | None) -> int:
    """Stream `tensors` into a .safetensors file without building it in memory; returns its size.

    Data is laid out widest dtype first (every tensor stays aligned), then in source-file order, so views of
    `source` are copied sequentially by the kernel; other tensors are written from memory.
    """
    def order(item: tuple[str, Tensor]) -> tuple[int, int]:
        offset = source.file_offset(item[1]) if source is not None else None
        return -item[1].element_size(), offset if offset is not None else 1 << 62

    items = sorted(tensors.items(), key=order)
    header: dict[str, object] = {"__metadata__": dict(metadata)}
    position = 0
    for key, tensor in items:
        size = tensor_bytes(tensor)
        header[key] = {"dtype": dtype_name(tensor.dtype), "shape": list(tensor.shape),
                       "data_offsets": [position, position + size]}
        position += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-(8 + len(blob)) % 8)  # the data starts 8-byte aligned
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, len(blob).to_bytes(8, "little") + blob)
        for _key, tensor in items:
            offset = source.file_offset(tensor) if source is not None else None
            if offset is not None:
                _copy_range(source.fileno(), fd, offset, tensor_bytes(tensor))  # type: ignore[union-attr]
            elif tensor.numel():
                flat = tensor.detach().contiguous().view(-1).view(torch.uint8)
                _write_all(fd, memoryview(flat.numpy()))
    finally:
        os.close(fd)
    return 8 + len(blob) + position


class ConvertedCache:
    """Bounded on-disk cache of converted checkpoints (see the module docstring)."""

    def __init__(self, root: Path, max_bytes: int, hash_cache_file: Path):
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self.hash_cache_file = Path(hash_cache_file)
        self._lock = threading.Lock()

    @classmethod
    def from_gb(cls, cache_dir: Path, gb: float, hash_cache_file: Path) -> ConvertedCache | None:
        """The cache under `<cache_dir>/converted`, or None when `gb` is 0 (off)."""
        if gb <= 0:
            return None
        return cls(Path(cache_dir) / "converted", int(gb * GIB), hash_cache_file)

    def entry_path(self, sha256: str, dtypes: Mapping[str, torch.dtype]) -> Path:
        return self.root / f"{sha256}-{dtype_signature(dtypes)}{SUFFIX}"

    def entries(self) -> list[Path]:
        """Entry files, least recently used first."""
        if not self.root.is_dir():
            return []
        found = [p for p in self.root.iterdir() if p.suffix == SUFFIX and not p.name.startswith(".")]
        return sorted(found, key=lambda p: p.stat().st_mtime)

    def lookup(self, path: Path, dtypes: Mapping[str, torch.dtype]) -> tuple[ConvertedModel, bool] | None:
        """(the converted model of checkpoint `path` as lazy views of its entry, whether the entry's dtypes are
        `dtypes`), or None on a miss. An entry in `dtypes` is preferred; any other one of the file also serves."""
        path = Path(path).resolve()
        sha = cached_sha256(path, self.hash_cache_file)
        if sha is None:
            return None  # never hashed, or changed since: not trusted
        exact = self.entry_path(sha, dtypes)
        candidates = [exact] if exact.is_file() else []
        candidates += [p for p in reversed(self.entries()) if p.name.startswith(sha + "-") and p != exact]
        for entry in candidates:
            model = self._open(entry, sha, path.stat().st_size)
            if model is not None:
                os.utime(entry)  # most recently used
                return model, entry == exact
        return None

    def _open(self, entry: Path, sha: str, size: int) -> ConvertedModel | None:
        try:
            source = open_safetensors(entry)
        except ModelLoadError as exc:
            log.warning("converted cache: dropping unreadable entry %s (%s)", entry.name, exc)
            entry.unlink(missing_ok=True)
            return None
        meta = _entry_meta(source)
        if meta is None or meta.get("source_sha256") != sha or meta.get("source_size") != size:
            source.close()
            log.info("converted cache: entry %s is stale or from another version; ignoring it", entry.name)
            entry.unlink(missing_ok=True)
            return None
        tensors: dict[str, dict[str, Tensor]] = {}
        for key, tensor in source.tensors.items():
            component, _, name = key.partition("/")
            tensors.setdefault(component, {})[name] = tensor
        return ConvertedModel(meta["family"], meta["file_prediction"], meta["configs"], tensors, source=source)

    def store(self, path: Path, model: ConvertedModel, modules: Mapping[str, torch.nn.Module],
              dtypes: Mapping[str, torch.dtype]) -> Path | None:
        """Write the loaded `modules` (their tensors, as they are now) as the entry of checkpoint `path` in `dtypes`;
        None when it does not fit. `model` (prepared) gives the configs. Failures are logged, never raised."""
        path = Path(path).resolve()
        flat = {f"{name}/{key}": t for name, module in modules.items() for key, t in module.state_dict().items()}
        needed = sum(tensor_bytes(t) for t in flat.values())
        if needed > self.max_bytes:
            log.info("converted cache: %s (%.2f GB) is larger than the cache (%.2f GB); not stored", path.name,
                     needed / GIB, self.max_bytes / GIB)
            return None
        started = time.perf_counter()
        try:
            with self._lock:
                sha = sha256_file(path, self.hash_cache_file)
                stat = path.stat()
                self.root.mkdir(parents=True, exist_ok=True)
                self._drop_entries_of(path, keep=sha)
                self._evict(needed)
                meta = {"format": FORMAT, "family": model.family, "file_prediction": model.file_prediction,
                        "configs": model.configs, "source_sha256": sha, "source_size": stat.st_size,
                        "source_path": str(path)}
                entry = self.entry_path(sha, dtypes)
                tmp = entry.with_name(f".{entry.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                try:
                    write_safetensors(tmp, flat, {META_KEY: json.dumps(meta)}, None)
                    os.replace(tmp, entry)
                finally:
                    tmp.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("converted cache: could not store %s: %s", path.name, exc)
            return None
        log.info("converted cache: stored %s as %s (%.2f GB) in %.2fs", path.name, entry.name, needed / GIB,
                 time.perf_counter() - started)
        return entry

    def _drop_entries_of(self, path: Path, keep: str) -> None:
        """Remove entries made from earlier contents of `path` (the file changed since)."""
        for entry in self.entries():
            if entry.name.startswith(keep + "-"):
                continue
            try:
                with open_safetensors(entry) as source:
                    meta = _entry_meta(source)
            except ModelLoadError:
                meta = None
            if meta is None or meta.get("source_path") == str(path):
                log.info("converted cache: removing %s (%s)", entry.name,
                         "unreadable" if meta is None else f"{path.name} changed")
                entry.unlink(missing_ok=True)

    def _evict(self, needed: int) -> None:
        entries = self.entries()
        total = sum(p.stat().st_size for p in entries)
        while entries and total + needed > self.max_bytes:
            victim = entries.pop(0)
            total -= victim.stat().st_size
            log.info("converted cache: evicting %s (bound %.2f GB)", victim.name, self.max_bytes / GIB)
            victim.unlink(missing_ok=True)


def dtype_signature(dtypes: Mapping[str, torch.dtype]) -> str:
    """"f32-f32-f32": the UNet, VAE and text-encoder dtypes of an entry."""
    names = [dtype_name(dtypes[c]).lower() for c in ("unet", "vae", "text_encoder")]
    return "-".join(names)


def _entry_meta(source: SafetensorsFile) -> dict | None:
    try:
        meta = json.loads(source.metadata.get(META_KEY, ""))
    except json.JSONDecodeError:
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return None
    return meta
