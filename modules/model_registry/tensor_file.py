"""Checkpoint tensors as lazy views of the file, read into RAM in one pass, in their final dtype.

A .safetensors file is memory-mapped copy-on-write (nothing can write through to the file) and each tensor is a
view of that mapping, so key conversion (renames, reshapes, row slices) reads no data. `materialize` then
allocates every destination tensor once, in its final dtype, and fills it with pread() from the file offset of
its view, in file order, while a read-ahead thread pulls the next window from the disk into the page cache so
the disk reads on while the CPU casts. Views of the mapping are never touched for those tensors, so the peak RSS of a load is
the model plus one staging buffer, not model + file. Tensors that are not plain views of the file (a transpose,
a tensor from a .ckpt or from memory) are copied with `Tensor.copy_`.
"""
from __future__ import annotations

import json
import logging
import mmap
import os
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from modules.errors import ModelLoadError

log = logging.getLogger(__name__)

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024  # the safetensors reference implementation's limit
STAGING_BYTES = 2 << 20  # cast through buffers that stay in the CPU's cache
LOAD_THREADS = int(os.environ.get("EASEL_LOAD_THREADS", "1"))  # intra-op threads while casting (measured)
READ_AHEAD_ON = os.environ.get("EASEL_LOAD_READ_AHEAD", "1") != "0"  # (for side-by-side measurements)


def _read_header(handle, path: Path, size: int) -> tuple[int, dict]:
    raw = handle.read(8)
    if len(raw) < 8:
        raise ModelLoadError(f"Cannot read '{path}' as safetensors: the file is too short.")
    length = int.from_bytes(raw, "little")
    if length > MAX_HEADER or 8 + length > size:
        raise ModelLoadError(f"Cannot read '{path}' as safetensors: invalid header length {length}.")
    try:
        header = json.loads(handle.read(length))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"Cannot read '{path}' as safetensors: invalid header ({exc}).") from exc
    if not isinstance(header, dict):
        raise ModelLoadError(f"Cannot read '{path}' as safetensors: the header is not an object.")
    return 8 + length, header


class ReadAhead:
    """Reads the byte ranges a load will need, in order, on a thread of its own, at most WINDOW bytes ahead of
    the consumer: the disk then fills the page cache while the consumer casts (POSIX_FADV_WILLNEED measured
    ineffective on this machine's ext4/virtio disk). Costs a copy into a scratch buffer on the other core."""

    CHUNK = 8 << 20
    WINDOW = 256 << 20

    def __init__(self, fd: int, ranges: list[tuple[int, int]]):
        self._fd, self._ranges = fd, _merge(ranges)
        self._consumed = self._ranges[0][0] if self._ranges else 0
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="easel-read-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        scratch = memoryview(bytearray(self.CHUNK))
        try:
            for start, end in self._ranges:
                pos = start
                while pos < end:
                    with self._cond:
                        while not self._stopped and pos - self._consumed > self.WINDOW:
                            self._cond.wait()
                        if self._stopped:
                            return
                    got = os.preadv(self._fd, [scratch[:min(self.CHUNK, end - pos)]], pos)
                    if got <= 0:
                        return
                    pos += got
        except OSError as exc:  # only a hint: the consumer's own reads report real errors
            log.debug("read-ahead stopped: %s", exc)

    def consumed(self, offset: int) -> None:
        with self._cond:
            if offset > self._consumed:
                self._consumed = offset
                self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join()


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start <= merged[-1][1] + (1 << 20):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class SafetensorsFile:
    """An open .safetensors file: `tensors` are zero-copy views; `materialize` reads them into RAM."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDONLY)
        try:
            size = os.fstat(self._fd).st_size
            with open(self._fd, "rb", closefd=False) as handle:
                data_start, header = _read_header(handle, self.path, size)
            meta = header.pop("__metadata__", None) or {}
            self.metadata: dict[str, str] = {str(k): str(v) for k, v in meta.items()}
            self._mmap = mmap.mmap(self._fd, size, access=mmap.ACCESS_COPY) if size else None
            base = torch.frombuffer(self._mmap, dtype=torch.uint8) if self._mmap is not None else None
            self._base_ptr = base.data_ptr() if base is not None else -1
            self.tensors: dict[str, Tensor] = {k: self._view(base, k, v, data_start, size) for k, v in header.items()}
        except BaseException:
            os.close(self._fd)
            raise
        self._size = size
        self._read_ahead: ReadAhead | None = None

    def _view(self, base: Tensor | None, key: str, entry: object, data_start: int, size: int) -> Tensor:
        try:
            dtype = DTYPES[entry["dtype"]]  # type: ignore[index]
            shape = [int(d) for d in entry["shape"]]  # type: ignore[index]
            start, end = (int(o) for o in entry["data_offsets"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"Cannot read '{self.path}' as safetensors: bad entry for {key!r}.") from exc
        numel = 1
        for dim in shape:
            numel *= dim
        itemsize = torch.empty(0, dtype=dtype).element_size()
        if min(shape, default=0) < 0 or end - start != numel * itemsize or start < 0 or data_start + end > size:
            raise ModelLoadError(f"Cannot read '{self.path}' as safetensors: tensor {key!r} is out of bounds.")
        raw = base[data_start + start:data_start + end]  # type: ignore[index]
        if (data_start + start) % itemsize:  # unaligned: torch cannot view it in place, read it now
            raw = raw.clone()
        return raw.view(dtype).view(shape)

    def file_offset(self, tensor: Tensor) -> int | None:
        """Byte offset of `tensor` in the file when it is a contiguous view of the mapping, else None."""
        if tensor.device.type != "cpu" or not tensor.is_contiguous() or self._base_ptr < 0:
            return None
        if tensor.untyped_storage().data_ptr() != self._base_ptr:
            return None
        return tensor.data_ptr() - self._base_ptr

    def start_read_ahead(self, ranges: list[tuple[int, int]]) -> None:
        """Read `ranges` (file offsets) ahead of the coming `read_into` calls, in offset order."""
        if READ_AHEAD_ON and ranges and self._read_ahead is None:
            self._read_ahead = ReadAhead(self._fd, ranges)

    def stop_read_ahead(self) -> None:
        if self._read_ahead is not None:
            self._read_ahead.stop()
            self._read_ahead = None

    def _pread(self, target: memoryview, offset: int) -> None:
        done = 0
        while done < len(target):
            got = os.preadv(self._fd, [target[done:]], offset + done)
            if got <= 0:
                raise ModelLoadError(f"'{self.path}' ended early (truncated while loading?).")
            done += got

    def read_into(self, dst: Tensor, src: Tensor, offset: int, staging: Staging) -> None:
        """Fill `dst` from the file bytes of view `src` at `offset`, casting chunk by chunk if needed."""
        nbytes = src.numel() * src.element_size()
        if nbytes == 0:
            return
        if self._read_ahead is not None:
            self._read_ahead.consumed(offset)
        if dst.dtype == src.dtype:
            self._pread(memoryview(dst.view(-1).view(torch.uint8).numpy()), offset)
            return
        flat, itemsize = dst.view(-1), src.element_size()
        step = staging.raw.numel() // itemsize * itemsize
        window = memoryview(staging.raw.numpy())
        via_float = src.is_floating_point() and dst.is_floating_point() and torch.float32 not in (src.dtype, dst.dtype)
        for pos in range(0, nbytes, step):
            size = min(step, nbytes - pos)
            self._pread(window[:size], offset + pos)
            chunk = staging.raw[:size].view(src.dtype)
            if via_float:  # e.g. fp16 -> bf16: two vectorised casts through a cached fp32 chunk beat the direct one
                chunk = staging.wide[:size // itemsize].copy_(chunk)
            flat[pos // itemsize:(pos + size) // itemsize].copy_(chunk)

    def mapped(self) -> dict[str, Tensor]:
        """Every tensor in a private (copy-on-write) mapping of its own, populated from the page cache.

        For files Easel wrote itself (the converted cache): the weights are the file's pages, so nothing is
        allocated, zeroed or copied, and a write (a LoRA patch) copies only the page it touches. Each tensor
        has its own storage, freed with it. Not for user files: changing a mapped file in place would change
        the weights under a running model (Easel's cache files are only ever replaced, never rewritten).
        """
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self._fd, 0, self._size, os.POSIX_FADV_WILLNEED)  # read ahead at full speed
        out: dict[str, Tensor] = {}
        for key, view in self.tensors.items():
            offset = self.file_offset(view)
            nbytes = view.numel() * view.element_size()
            if offset is None or nbytes == 0:
                out[key] = view.clone()
                continue
            start = offset - offset % mmap.ALLOCATIONGRANULARITY
            region = mmap.mmap(self._fd, offset + nbytes - start, access=mmap.ACCESS_COPY, offset=start)
            _populate(region)
            raw = torch.frombuffer(region, dtype=torch.uint8)[offset - start:offset - start + nbytes]
            out[key] = raw.view(view.dtype).view(view.shape)
        return out

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        """Close the file descriptor; views already handed out keep the mapping alive until they are freed."""
        self.stop_read_ahead()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SafetensorsFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


MADV_POPULATE_READ = 22  # Linux >= 5.14: fault the pages in for reading (no copy-on-write), in one call


def _populate(region: mmap.mmap) -> None:
    try:
        region.madvise(MADV_POPULATE_READ)
    except (OSError, ValueError):  # older kernel: the pages come in on first use instead
        region.madvise(mmap.MADV_WILLNEED)


def target_dtype(tensor: Tensor, dtype: torch.dtype) -> torch.dtype:
    """Floating tensors take `dtype`; integer and bool tensors keep theirs."""
    return dtype if tensor.is_floating_point() else tensor.dtype


class Staging:
    """Cache-sized buffers for casting: the file's bytes, and a float32 chunk for 16-bit to 16-bit casts."""

    def __init__(self, nbytes: int = STAGING_BYTES):
        self.raw = torch.empty(nbytes, dtype=torch.uint8)
        self.wide = torch.empty(nbytes // 2, dtype=torch.float32)  # room for a chunk of 2-byte elements


@contextmanager
def _intra_op_threads(threads: int):
    """Casting and copying are memory-bound: more threads measured slower on a busy machine (docs)."""
    previous = torch.get_num_threads()
    if threads and threads != previous:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def materialize(items: Iterable[tuple[str, Tensor, torch.dtype]], source: SafetensorsFile | None,
                threads: int = LOAD_THREADS) -> dict[str, Tensor]:
    """{name: tensor in RAM} for (name, lazy tensor, dtype) items: each allocated once and cast once.

    Views of `source` are read with pread in file order; anything else is copied from where it is. Runs with
    `threads` intra-op threads (0: leave torch's setting), which a model load may change: nothing else runs then.
    """
    staging = Staging()
    plan: list[tuple[int, str, Tensor, torch.dtype]] = []
    for name, tensor, dtype in items:
        offset = source.file_offset(tensor) if source is not None else None
        plan.append((-1 if offset is None else offset, name, tensor, target_dtype(tensor, dtype)))
    plan.sort(key=lambda item: item[0])
    out: dict[str, Tensor] = {}
    if source is not None:
        source.start_read_ahead([(o, o + tensor_bytes(t)) for o, _, t, _ in plan if o >= 0])
    try:
        with _intra_op_threads(threads):
            for offset, name, tensor, dtype in plan:
                dst = torch.empty(tensor.shape, dtype=dtype)
                if offset < 0 or source is None:
                    dst.copy_(tensor)
                else:
                    source.read_into(dst, tensor, offset, staging)
                out[name] = dst
    finally:
        if source is not None:
            source.stop_read_ahead()
    return out


def dtype_name(dtype: torch.dtype) -> str:
    """The safetensors name of `dtype` ("F16", "BF16", ...)."""
    try:
        return DTYPE_NAMES[dtype]
    except KeyError:
        raise ValueError(f"dtype {dtype} has no safetensors name") from None


def tensor_bytes(tensor: Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def open_safetensors(path: Path) -> SafetensorsFile:
    """Open `path` lazily; errors name the file (ModelLoadError)."""
    try:
        return SafetensorsFile(path)
    except OSError as exc:
        raise ModelLoadError(f"Cannot read '{path}' as safetensors: {exc}") from exc
