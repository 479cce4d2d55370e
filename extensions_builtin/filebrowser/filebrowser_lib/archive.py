"""Folder downloads: a zip streamed as it is written (no temporary file, bounded memory)."""
from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path

from .paths import PathGuard, Resolved, is_within

CHUNK = 1 << 20
STORE_SUFFIXES = frozenset({
    ".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".onnx",
    ".png", ".jpg", ".jpeg", ".webp", ".gif", ".zip", ".gz", ".7z", ".mp4",
})
"""Already-compressed or incompressible files are stored, not deflated (model files are GBs of random bits)."""
STORE_ABOVE = 64 << 20
ZIP64_ABOVE = 1 << 30


class _Sink:
    """A write-only, unseekable target for ZipFile; the generator drains it between writes."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: bytes leave through `take`."""

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def _members(guard: PathGuard, top: Resolved) -> Iterator[tuple[str, str, bool]]:
    """(real path, archive name, is_dir) for the folder tree; symlinks out of the data dir and
    symlinked folders (possible loops) are skipped."""
    base = top.real
    top_name = top.name or base.name or "data"
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))
                             and not guard.is_protected(os.path.join(dirpath, d)))
        rel_dir = os.path.relpath(dirpath, base)
        arc_dir = top_name if rel_dir == "." else f"{top_name}/{Path(rel_dir).as_posix()}"
        yield dirpath, arc_dir + "/", True
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            real = os.path.realpath(path)
            if not is_within(guard.root, real) or not os.path.isfile(real) or guard.is_protected(real):
                continue
            yield real, f"{arc_dir}/{name}", False


def iter_zip(guard: PathGuard, top: Resolved) -> Iterator[bytes]:
    """The bytes of `top` (a folder) as a zip, yielded in ~1 MiB pieces while files are read."""
    return iter_zip_many(guard, [top])


def _file_member(guard: PathGuard, target: Resolved) -> Iterator[tuple[str, str, bool]]:
    real = os.path.realpath(target.real)
    if is_within(guard.root, real) and os.path.isfile(real) and not guard.is_protected(real):
        yield real, target.name or Path(real).name, False


def iter_zip_many(guard: PathGuard, targets: list[Resolved]) -> Iterator[bytes]:
    """Files and folders (each folder under its own name) as one zip, streamed like `iter_zip`."""
    sink = _Sink()
    members = (m for t in targets for m in (_members(guard, t) if t.real.is_dir() else _file_member(guard, t)))
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:  # type: ignore[arg-type]
        for real, arcname, is_dir in members:
            try:
                info = zipfile.ZipInfo.from_file(real, arcname)
            except FileNotFoundError:  # removed while zipping
                continue
            if is_dir:
                info.CRC = info.compress_size = 0  # ZipFile.mkdir fills these only for a str name
                archive.mkdir(info)
                continue
            big_or_packed = info.file_size > STORE_ABOVE or Path(real).suffix.lower() in STORE_SUFFIXES
            info.compress_type = zipfile.ZIP_STORED if big_or_packed else zipfile.ZIP_DEFLATED
            try:
                source = open(real, "rb")
            except FileNotFoundError:
                continue
            with source:
                yield from _add_member(archive, sink, info, iter(partial(source.read, CHUNK), b""), info.file_size)
    if sink.buffer:
        yield sink.take()


def iter_zip_objects(store, keys: list[str], base: str | None = None) -> Iterator[bytes]:
    """Objects of a modules.storage Storage (the object-store view) as one zip, streamed from the store chunk by
    chunk: each under its key relative to the folder `base` (a folder download), else under its file name."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:  # type: ignore[arg-type]
        for key in keys:
            size = store.stat(key).size
            info = zipfile.ZipInfo(key[len(base) + 1:] if base else key.rsplit("/", 1)[-1])
            packed = size > STORE_ABOVE or Path(key).suffix.lower() in STORE_SUFFIXES
            info.compress_type = zipfile.ZIP_STORED if packed else zipfile.ZIP_DEFLATED
            yield from _add_member(archive, sink, info, store.iter_chunks(key), size)
    if sink.buffer:
        yield sink.take()


def _add_member(archive: zipfile.ZipFile, sink: _Sink, info: zipfile.ZipInfo, blocks: Iterable[bytes],
                size: int) -> Iterator[bytes]:
    """Write one member from `blocks`, yielding the zip's bytes as they fill up."""
    with archive.open(info, "w", force_zip64=size > ZIP64_ABOVE) as dest:
        for block in blocks:
            dest.write(block)
            if len(sink.buffer) >= CHUNK:
                yield sink.take()
    if sink.buffer:
        yield sink.take()
