"""Upscaler and face-restoration weight files, read through spandrel: the folders, the scan and the loading.

Folders, as A1111 1.10 (each also takes an A1111 flag that adds one more folder):
  models/ESRGAN (--esrgan-models-path), models/RealESRGAN (--realesrgan-models-path), models/SwinIR
  (--swinir-models-path), models/DAT (--dat-models-path), models/HAT, models/BSRGAN (--bsrgan-models-path),
  models/ScuNET (--scunet-models-path): upscalers; models/GFPGAN (--gfpgan-models-path, --gfpgan-dir) and
  models/Codeformer (--codeformer-models-path): face restorers.
Names follow A1111: the file stem, except the RealESRGAN release files, which A1111 shows by its own labels
("RealESRGAN_x4plus.pth" is "R-ESRGAN 4x+"). The scale comes from the weights (spandrel detects it).

A file spandrel cannot read (unknown architecture, broken file, pickled code, a face model in an upscaler folder,
...) is listed nowhere and logged once per file version (path, size, mtime); `refresh()` rescans and reads only
new or changed files.
"""
from __future__ import annotations

import logging
import os
import pickle
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modules.errors import ModelLoadError
from modules.model_registry.init_lock import MODULE_INIT_LOCK
from modules.model_registry.spandrel_import import architecture_registry

logger = logging.getLogger(__name__)

SUFFIXES = (".pth", ".pt", ".safetensors", ".ckpt")
UPSCALER_KINDS = ("ESRGAN", "RealESRGAN", "SwinIR", "DAT", "HAT", "BSRGAN", "ScuNET")
FACE_KINDS = ("GFPGAN", "CodeFormer")
FOLDERS = {"ESRGAN": "ESRGAN", "RealESRGAN": "RealESRGAN", "SwinIR": "SwinIR", "DAT": "DAT", "HAT": "HAT",
           "BSRGAN": "BSRGAN", "ScuNET": "ScuNET", "GFPGAN": "GFPGAN", "CodeFormer": "Codeformer"}
FACE_ARCHITECTURES = {"GFPGAN": "GFPGAN", "CodeFormer": "CodeFormer"}  # kind -> spandrel architecture id
REALESRGAN_NAMES = {  # A1111 realesrgan_model.get_realesrgan_models: file stem -> the name A1111 shows
    "RealESRGAN_x4plus": "R-ESRGAN 4x+",
    "RealESRGAN_x4plus_anime_6B": "R-ESRGAN 4x+ Anime6B",
    "RealESRGAN_x2plus": "R-ESRGAN 2x+",
    "realesr-general-x4v3": "R-ESRGAN General 4xV3",
    "realesr-general-wdn-x4v3": "R-ESRGAN General WDN 4xV3",
    "realesr-animevideov3": "R-ESRGAN AnimeVideo",
}
LOADED_LIMIT = 2  # models kept in memory (LRU)


@dataclass(frozen=True)
class SrModelFile:
    """One readable weight file: `kind` is its folder's kind, `architecture` spandrel's id."""

    name: str
    kind: str
    path: Path
    architecture: str
    scale: int

    @property
    def is_face_model(self) -> bool:
        return self.kind in FACE_KINDS


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weight file, never running pickled code (release wrappers like params_ema unwrapped)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            raw: Any = load_file(str(path), device="cpu")
        else:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(f"'{path.name}' holds pickled objects other than tensors; refusing to unpickle it "
                             f"(convert it to .safetensors)") from exc
    except Exception as exc:  # safetensors and torch.load raise many unrelated types for a broken file
        raise ModelLoadError(f"cannot read '{path.name}': {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
    if not isinstance(raw, dict):
        raise ModelLoadError(f"'{path.name}' does not hold a state dict")
    from spandrel import canonicalize_state_dict  # spandrel was imported by architecture_registry

    state = canonicalize_state_dict(raw)
    tensors = {k: v for k, v in state.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelLoadError(f"'{path.name}' holds no tensors")
    return tensors


def describe(path: Path, kind: str) -> tuple[str, int]:
    """(spandrel architecture id, scale) of a file of `kind`; ModelLoadError when it is not usable there."""
    try:
        registry = architecture_registry()
    except ImportError as exc:
        raise ModelLoadError(f"'{path.name}' not read: {exc}") from exc
    state = read_state_dict(path)
    if kind in FACE_KINDS:
        wanted = FACE_ARCHITECTURES[kind]
        found = next((str(a.architecture.id) for a in registry.architectures("detection") if a.detect(state)), None)
        if found != wanted:
            extra = " (CodeFormer needs the spandrel_extra_arches package)" \
                if kind == "CodeFormer" and found is None and "CodeFormer" not in registry else ""
            raise ModelLoadError(f"'{path.name}' is not a {kind} model (detected: {found or 'unknown'}){extra}")
        return wanted, 1
    descriptor = _load_descriptor(registry, state, path)
    if str(descriptor.architecture.id) in FACE_ARCHITECTURES.values():
        raise ModelLoadError(f"'{path.name}' is a face-restoration model; put it in models/GFPGAN or models/Codeformer")
    return str(descriptor.architecture.id), int(descriptor.scale)


def _load_descriptor(registry: Any, state: dict[str, torch.Tensor], path: Path) -> Any:
    import spandrel

    try:
        with MODULE_INIT_LOCK:  # never while accelerate builds a checkpoint on the meta device in another thread
            descriptor = registry.load(state)
    except spandrel.UnsupportedModelError as exc:
        raise ModelLoadError(f"'{path.name}': spandrel does not know this architecture") from exc
    except (KeyError, RuntimeError, ValueError, TypeError, IndexError, AssertionError) as exc:
        detail = str(exc).strip().splitlines()
        raise ModelLoadError(f"'{path.name}': spandrel could not build the model: "
                             f"{' '.join(line.strip() for line in detail[:2])}") from exc
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.input_channels != 3 \
            or descriptor.output_channels != 3:
        raise ModelLoadError(f"'{path.name}' is not an RGB image-to-image model")
    return descriptor


def model_folders(models_dir: Path, cmd_opts: Any) -> dict[str, tuple[Path, ...]]:
    """Per kind: models/<Folder>, then the folder of its A1111 flag (and --gfpgan-dir for GFPGAN) when given."""
    folders: dict[str, tuple[Path, ...]] = {}
    for kind in (*UPSCALER_KINDS, *FACE_KINDS):
        extra = [getattr(cmd_opts, f"{kind.lower()}_models_path", None)]
        if kind == "GFPGAN":
            extra.append(getattr(cmd_opts, "gfpgan_dir", None))
        paths = [models_dir / FOLDERS[kind]] + [Path(p).expanduser().resolve() for p in extra if p]
        folders[kind] = tuple(dict.fromkeys(paths))
    return folders


def half_dtype(descriptor: Any, device: torch.device) -> torch.dtype | None:
    """The reduced precision to run `descriptor` in on `device` (None: float32). Never on the CPU, where float16
    is slow or missing and bfloat16 costs accuracy for no speed in these convolutions."""
    if device.type != "cuda":
        return None
    if descriptor.supports_half:
        return torch.float16
    if descriptor.supports_bfloat16 and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def _files(folder: Path) -> list[Path]:
    """Weight files under `folder` (recursive, sorted, hidden entries skipped)."""
    if not folder.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in sorted(filenames)
                  if not f.startswith(".") and f.lower().endswith(SUFFIXES)]
    return found


def display_name(path: Path, kind: str) -> str:
    return REALESRGAN_NAMES.get(path.stem, path.stem) if kind == "RealESRGAN" else path.stem


class SrModelRegistry:
    """Thread-safe catalogue of the upscaler and face-restoration files; loads them on demand (LRU of 2)."""

    def __init__(self, folders: dict[str, tuple[Path, ...]]):
        self.folders = {kind: tuple(folders.get(kind, ())) for kind in (*UPSCALER_KINDS, *FACE_KINDS)}
        self._lock = threading.RLock()
        self._known: dict[tuple[str, int, int], tuple[str, int] | None] = {}  # file version -> description
        self._items: list[SrModelFile] = []
        self._loaded: OrderedDict[tuple[Path, str, str], Any] = OrderedDict()

    def refresh(self) -> list[SrModelFile]:
        """Rescan every folder; the first file of a name wins (later ones are logged once)."""
        items: dict[str, SrModelFile] = {}
        with self._lock:
            for kind, folders in self.folders.items():
                for folder in folders:
                    for path in _files(folder):
                        entry = self._describe_once(path, kind)
                        if entry is None:
                            continue
                        name = display_name(path, kind)
                        key = f"{'face' if kind in FACE_KINDS else 'sr'}:{name}"
                        if key in items:
                            self._log_once(path, f"{path}: a model named {name!r} is already listed; skipped")
                            continue
                        items[key] = SrModelFile(name, kind, path.resolve(), entry[0], entry[1])
            self._items = list(items.values())
            self._loaded = OrderedDict((k, v) for k, v in self._loaded.items()
                                       if any(k[0] == i.path for i in self._items))
        logger.info("Found %d upscaler and %d face-restoration model files",
                    len(self.upscalers()), len(self.face_models()))
        return list(self._items)

    def _version(self, path: Path) -> tuple[str, int, int]:
        stat = path.stat()
        return str(path.resolve()), stat.st_size, stat.st_mtime_ns

    def _describe_once(self, path: Path, kind: str) -> tuple[str, int] | None:
        try:
            version = self._version(path)
        except OSError:
            return None
        key = (f"{kind}|{version[0]}", version[1], version[2])
        if key not in self._known:
            try:
                self._known[key] = describe(path, kind)
            except ModelLoadError as exc:
                logger.warning("%s model not usable, not listed: %s", kind, exc.message)
                self._known[key] = None
        return self._known[key]

    def _log_once(self, path: Path, message: str) -> None:
        key = (f"dup|{path}", 0, 0)
        if key not in self._known:
            self._known[key] = None
            logger.warning(message)

    def upscalers(self) -> list[SrModelFile]:
        with self._lock:
            return [i for i in self._items if not i.is_face_model]

    def face_models(self, kind: str | None = None) -> list[SrModelFile]:
        with self._lock:
            return [i for i in self._items if i.is_face_model and (kind is None or i.kind == kind)]

    def load(self, entry: SrModelFile, device: torch.device, *, half: bool = False) -> Any:
        """spandrel's ImageModelDescriptor for `entry`, in eval mode on `device` (cached). With `half` (CUDA only),
        float16 where the architecture supports it, else bfloat16 where the GPU and the architecture do."""
        key = (entry.path, str(device), str(half))
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            descriptor = _load_descriptor(architecture_registry(), read_state_dict(entry.path), entry.path)
            descriptor.model.eval()
            descriptor.to(device)
            dtype = half_dtype(descriptor, device) if half else None
            if dtype is not None:
                descriptor.to(dtype)
            self._loaded[key] = descriptor
            while len(self._loaded) > LOADED_LIMIT:
                self._loaded.popitem(last=False)
            return descriptor
