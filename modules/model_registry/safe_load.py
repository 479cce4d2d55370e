"""Safe reading of checkpoint files: safetensors, or torch zips restricted to tensors (weights_only)."""
from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from modules.errors import ModelLoadError

if TYPE_CHECKING:
    from modules.model_registry.tensor_file import SafetensorsFile

log = logging.getLogger(__name__)
SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")


@dataclass
class RawCheckpoint:
    """Tensors of a checkpoint plus the few non-tensor facts we use."""

    tensors: dict[str, Tensor]
    metadata: dict[str, str] = field(default_factory=dict)  # safetensors __metadata__ / top-level str values
    global_step: int | None = None
    source: SafetensorsFile | None = None  # set by open_checkpoint: the tensors are lazy views of this file


def read_safetensors_metadata(path: Path) -> dict[str, str]:
    """The `__metadata__` header of a .safetensors file (no tensor data read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as exc:  # safetensors raises its own SafetensorError / OSError types
        raise ModelLoadError(f"Cannot read safetensors header of '{path}': {exc}") from exc


def _unwrap(obj: object, path: Path) -> tuple[dict, dict[str, str], int | None]:
    if not isinstance(obj, dict):
        raise ModelLoadError(f"'{path}' does not hold a state dict (found {type(obj).__name__}).")
    meta = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, str)}
    step = obj.get("global_step")
    while isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    return obj, meta, step if isinstance(step, int) else None


def _check_file(path: Path) -> str:
    if not path.is_file():
        raise ModelLoadError(f"Checkpoint file '{path}' does not exist.")
    suffix = path.suffix.lower()
    if suffix not in SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES:
        raise ModelLoadError(f"Unsupported checkpoint format '{path.suffix}' for '{path.name}'; "
                             "expected .safetensors, .ckpt or .pt.")
    return suffix


def _load_pickle(path: Path, *, mmap: bool) -> RawCheckpoint:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(
            f"'{path.name}' contains pickled objects other than tensors; refusing to unpickle it. "
            f"Convert it to .safetensors. (detail: {str(exc).splitlines()[0]})"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        if mmap and "zip" in str(exc).lower():  # a legacy (pre-1.6, non-zip) torch file cannot be mapped
            return _load_pickle(path, mmap=False)
        raise ModelLoadError(f"Cannot read checkpoint '{path}': {exc}") from exc
    sd, meta, step = _unwrap(obj, path)
    tensors = {k: v for k, v in sd.items() if isinstance(v, Tensor)}
    if not tensors:
        raise ModelLoadError(f"'{path}' holds no tensors.")
    return RawCheckpoint(tensors, meta, step)


def open_checkpoint(path: Path) -> RawCheckpoint:
    """Like load_checkpoint, but lazy: tensors are views of the mapped file, read only when used.

    A .safetensors file comes with `source` set, so `tensor_file.materialize` reads its views with pread in
    file order (close it with `raw.source.close()`); a torch zip is memory-mapped by torch.load.
    """
    from modules.model_registry.tensor_file import open_safetensors

    path = Path(path)
    if _check_file(path) in SAFETENSORS_SUFFIXES:
        source = open_safetensors(path)
        return RawCheckpoint(source.tensors, dict(source.metadata), source=source)
    return _load_pickle(path, mmap=True)


def load_checkpoint(path: Path) -> RawCheckpoint:
    """Read every tensor of a checkpoint file on the CPU, never running arbitrary pickled code."""
    path = Path(path)
    suffix = _check_file(path)
    if suffix in SAFETENSORS_SUFFIXES:
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path), device="cpu")
        except Exception as exc:  # SafetensorError is not an Exception subclass we can import stably
            raise ModelLoadError(f"Cannot read '{path}' as safetensors: {exc}") from exc
        return RawCheckpoint(tensors, read_safetensors_metadata(path))
    return _load_pickle(path, mmap=False)


def load_state_dict(path: Path) -> dict[str, Tensor]:
    """All tensors of `path` (a `state_dict` wrapper key is unwrapped)."""
    return load_checkpoint(path).tensors
