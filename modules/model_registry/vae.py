"""External VAE files: discovery (A1111 `sd-vae` list), name resolution and exact swap / restore."""
from __future__ import annotations

import difflib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from modules.errors import ModelLoadError, ModelNotFoundError
from modules.model_registry.checkpoints import CheckpointInfo
from modules.model_registry.components import convert_vae, vae_subset
from modules.model_registry.hashes import sha256_file, shorthash
from modules.model_registry.safe_load import load_state_dict
from modules.paths import DataPaths

log = logging.getLogger(__name__)
VAE_SUFFIXES = (".safetensors", ".ckpt", ".pt")
AUTOMATIC, NONE = "Automatic", "None"
_ORIGINAL_ATTR = "_easel_vae_original"
_CURRENT_ATTR = "_easel_vae_current"


@dataclass
class VaeInfo:
    model_name: str  # the file name, as A1111 lists it: "vae-ft-mse.safetensors"
    filename: Path  # absolute path

    def as_api(self) -> dict:
        return {"model_name": self.model_name, "filename": str(self.filename)}


def _vae_stem(path: Path) -> str:
    """`x.vae.safetensors` -> `x`, `x.safetensors` -> `x`."""
    stem = path.stem
    return stem[: -len(".vae")] if stem.endswith(".vae") else stem


class VaeRegistry:
    """Thread-safe list of VAE files in `paths.vae_dirs`."""

    def __init__(self, paths: DataPaths, *, hashing: bool = True):
        self.paths = paths
        self.hashing = hashing  # False with --no-hashing: no sha256, no "VAE hash"
        self._lock = threading.RLock()
        self._items: list[VaeInfo] = []

    def refresh(self) -> list[VaeInfo]:
        items: dict[str, VaeInfo] = {}
        for root in self.paths.vae_dirs:
            root = Path(root)
            if not root.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for fname in filenames:
                    if not fname.startswith(".") and fname.lower().endswith(VAE_SUFFIXES):
                        path = (Path(dirpath) / fname).resolve()
                        items.setdefault(fname, VaeInfo(model_name=fname, filename=path))
        ordered = sorted(items.values(), key=lambda v: v.model_name.lower())
        with self._lock:
            self._items = ordered
        return list(ordered)

    def list(self) -> list[VaeInfo]:
        with self._lock:
            return list(self._items)

    def names(self) -> list[str]:
        return [AUTOMATIC, NONE] + [v.model_name for v in self.list()]

    def check(self, name: str | None, *, field: str = "sd_vae") -> None:
        """Raise ModelNotFoundError (naming `field` and the valid values) unless `name` is a valid choice."""
        self.resolve(name, None, field=field)

    def shorthash(self, path: Path) -> str | None:
        """10-char sha256 of a VAE file (cached in `paths.hash_cache_file`); None with --no-hashing."""
        if not self.hashing:
            return None
        return shorthash(sha256_file(Path(path), self.paths.hash_cache_file))

    def resolve(self, name: str | None, checkpoint: CheckpointInfo | Path | None = None, *,
                field: str = "sd_vae") -> Path | None:
        """The VAE file to apply, or None to keep the checkpoint's own VAE.

        "Automatic": `<ckpt stem>.vae.{pt,ckpt,safetensors}` beside the checkpoint, else a file in the VAE
        folders whose stem (minus `.vae`) equals the checkpoint's stem; None when there is none.
        "None" / "" / None: None. Anything else: a file name, stem or path relative to a VAE folder.
        """
        wanted = (name or "").strip()
        if wanted in ("", NONE):
            return None
        if wanted == AUTOMATIC:
            if checkpoint is None:
                return None
            ckpt_path = Path(checkpoint.filename if isinstance(checkpoint, CheckpointInfo) else checkpoint)
            return self._near_checkpoint(ckpt_path)
        for info in self.list():
            roots = [Path(r).resolve() for r in self.paths.vae_dirs]
            rels = {info.filename.relative_to(r).as_posix() for r in roots if info.filename.is_relative_to(r)}
            if wanted in {info.model_name, info.filename.stem, _vae_stem(info.filename), str(info.filename)} | rels:
                return info.filename
        valid = self.names()
        close = difflib.get_close_matches(wanted, valid, n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(map(repr, close))}?" if close else ""
        raise ModelNotFoundError(f"VAE {name!r} not found.{hint} Valid values: {', '.join(map(repr, valid))}.",
                                 field=field)

    def _near_checkpoint(self, checkpoint_file: Path) -> Path | None:
        base = checkpoint_file.with_suffix("")
        for ext in (".vae.pt", ".vae.ckpt", ".vae.safetensors"):
            candidate = base.parent / (base.name + ext)
            if candidate.is_file():
                return candidate.resolve()
        stem = _vae_stem(checkpoint_file)
        for info in self.list():
            if _vae_stem(info.filename) == stem:
                return info.filename
        return None


def vae_state_from_file(path: Path, config: dict) -> dict[str, Tensor]:
    """Diffusers-layout AutoencoderKL weights from a VAE file (LDM or diffusers layout, any prefix)."""
    state = load_state_dict(path)
    if any(k.startswith("encoder.down_blocks.") for k in state):  # already diffusers layout
        return state
    ldm = vae_subset(state)
    if not ldm:
        raise ModelLoadError(f"VAE file '{path.name}' holds no encoder./decoder. weights.", field="sd_vae")
    return convert_vae(ldm, config)


def load_vae_into(pipe, path: Path) -> dict[str, Tensor]:
    """Copy the weights of VAE file `path` into `pipe.vae` in place; return the checkpoint's own VAE state.

    The first swap stores a CPU clone of the checkpoint's VAE on the pipe, so `restore_vae(pipe)` is
    exact however many files were applied in between.
    """
    path = Path(path)
    vae = pipe.vae
    try:
        new_state = vae_state_from_file(path, dict(vae.config))
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"Cannot read VAE file '{path.name}': {exc}", field="sd_vae") from exc
    current = vae.state_dict()
    missing = [k for k in current if k not in new_state]
    wrong = [k for k in current if k in new_state and new_state[k].shape != current[k].shape]
    if missing or wrong:
        raise ModelLoadError(
            f"VAE file '{path.name}' does not fit this model's VAE "
            f"({len(missing)} missing, {len(wrong)} mis-shaped weights, e.g. {(missing or wrong)[:2]}).",
            field="sd_vae")
    original = getattr(pipe, _ORIGINAL_ATTR, None)
    if original is None:
        original = {k: v.detach().to("cpu", copy=True) for k, v in current.items()}
        setattr(pipe, _ORIGINAL_ATTR, original)
    with torch.no_grad():
        vae.load_state_dict({k: new_state[k] for k in current}, strict=True)
    setattr(pipe, _CURRENT_ATTR, path.resolve())
    log.info("Applied VAE %s", path)
    return original


def restore_vae(pipe, original_state: dict[str, Tensor] | None = None) -> None:
    """Put the checkpoint's own VAE weights back (bit-exact). No-op when no VAE file was applied."""
    original = original_state if original_state is not None else getattr(pipe, _ORIGINAL_ATTR, None)
    if original is None:
        return
    with torch.no_grad():
        pipe.vae.load_state_dict(original, strict=True)
    setattr(pipe, _CURRENT_ATTR, None)
    if hasattr(pipe, _ORIGINAL_ATTR):
        delattr(pipe, _ORIGINAL_ATTR)


def current_vae(pipe) -> Path | None:
    """The VAE file applied to `pipe`, or None while it uses the checkpoint's own VAE."""
    return getattr(pipe, _CURRENT_ATTR, None)
