"""ControlNet model files: found in models/ControlNet, `--controlnet-dir` and the option control_net_models_path,
named as the extension names them (`control_v11p_sd15_canny [d14c016b]`: the stem and A1111's short model hash,
sha256 of the 64 KiB at offset 1 MiB), and looked up by title, name, stem, file name or hash. Torch-free.

Files: .safetensors / .pth / .pt / .ckpt / .bin in the lllyasviel layout (with or without the `control_model.`
prefix) or the diffusers layout; folders holding a diffusers ControlNetModel (config.json + weights). The
`annotator/` folder (preprocessor weights) is not scanned.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from modules.errors import ModelNotFoundError

logger = logging.getLogger(__name__)
SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")
DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                     "diffusion_pytorch_model.bin")
NONE = "None"


def legacy_hash(path: Path) -> str:
    """A1111's old `model_hash`: sha256 of the 64 KiB at offset 1 MiB, first 8 hex digits (what the extension shows)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(0x100000)
        digest.update(handle.read(0x10000))
    return digest.hexdigest()[:8]


@dataclass(frozen=True)
class ModelEntry:
    path: Path  # a weights file, or a diffusers folder
    stem: str
    hash: str
    weights: Path  # the file read for the hash and the weights (the folder's weights file for diffusers folders)

    @property
    def title(self) -> str:
        return f"{self.stem} [{self.hash}]"

    @property
    def is_diffusers_dir(self) -> bool:
        return self.path.is_dir()


def _diffusers_weights(folder: Path) -> Path | None:
    config = folder / "config.json"
    try:
        if json.loads(config.read_text(encoding="utf-8")).get("_class_name") != "ControlNetModel":
            return None
    except (OSError, ValueError):
        return None
    return next((folder / name for name in DIFFUSERS_WEIGHTS if (folder / name).is_file()), None)


def scan(root: Path) -> list[ModelEntry]:
    """Model files and diffusers folders under `root` (recursive; dot-folders and annotator/ skipped)."""
    found: list[ModelEntry] = []
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        weights = _diffusers_weights(here) if here != root else None
        if weights is not None:
            found.append(ModelEntry(here.resolve(), here.name, legacy_hash(weights), weights.resolve()))
            dirnames.clear()
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not (here == root and d == "annotator"))
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in SUFFIXES or path.stem == NONE:
                continue
            try:
                found.append(ModelEntry(path.resolve(), path.stem, legacy_hash(path), path.resolve()))
            except OSError as exc:
                logger.warning("ControlNet: cannot read %s (%s); skipped", path, exc)
    return found


class ModelRegistry:
    """The ControlNet models of some folders; `refresh()` rescans (also done when a name is not found)."""

    def __init__(self, roots_fn):
        self._roots_fn = roots_fn  # () -> list[Path], read on every scan (options may change)
        self._lock = threading.Lock()
        self._entries: list[ModelEntry] | None = None

    def refresh(self) -> list[ModelEntry]:
        entries: dict[str, ModelEntry] = {}
        for root in self._roots_fn():
            for entry in scan(Path(root)):
                entries.setdefault(entry.title, entry)  # the first folder wins, as in the extension
        ordered = sorted(entries.values(), key=lambda e: e.path.name)
        with self._lock:
            self._entries = ordered
        logger.info("ControlNet: %d model(s) found", len(ordered))
        return list(ordered)

    def list(self) -> list[ModelEntry]:
        with self._lock:
            entries = self._entries
        return list(entries) if entries is not None else self.refresh()

    def titles(self) -> list[str]:
        return [e.title for e in self.list()]

    def find(self, name: str) -> ModelEntry | None:
        """By title, stem (any case), file name, title without the hash, or hash; then the shortest name that
        contains it (the extension's closest match)."""
        wanted = (name or "").strip()
        if not wanted or wanted == NONE:
            return None
        for entries in (self.list(), None):
            entries = entries if entries is not None else self.refresh()
            found = _match(entries, wanted)
            if found is not None:
                return found
        return None

    def get(self, name: str, field: str) -> ModelEntry:
        found = self.find(name)
        if found is None:
            titles = self.titles()
            listed = ", ".join(repr(t) for t in titles[:20]) or "none"
            raise ModelNotFoundError(f"{field}: ControlNet model {name!r} not installed (put it in models/ControlNet "
                                     f"or --controlnet-dir); installed: {listed}", field=field)
        return found


def _match(entries: list[ModelEntry], wanted: str) -> ModelEntry | None:
    lowered = wanted.lower()
    bare = lowered.rsplit(" [", 1)[0] if lowered.endswith("]") else lowered
    for entry in entries:
        if wanted == entry.title or lowered in (entry.stem.lower(), entry.path.name.lower(), entry.hash):
            return entry
    for entry in entries:
        if bare == entry.stem.lower():
            return entry
    close = sorted((e for e in entries if bare in e.stem.lower()), key=lambda e: len(e.stem))
    return close[0] if close else None


def family_from_name(title: str) -> str | None:
    """The extension's guess from a model name: "sd1", "sd2", "sdxl" or None (unknown)."""
    lowered = title.lower()
    if any(f"sd{v}" in lowered for v in ("14", "15", "16")):
        return "sd1"
    if "sd21" in lowered or "2.1" in lowered:
        return "sd2"
    if "xl" in lowered:
        return "sdxl"
    return None
