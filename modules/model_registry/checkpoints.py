"""Checkpoint discovery and A1111-style naming: `sub/model.safetensors [abcdef0123]`."""
from __future__ import annotations

import difflib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.errors import ModelNotFoundError
from modules.model_registry.hashes import sha256_file, shorthash
from modules.paths import DataPaths

log = logging.getLogger(__name__)
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")  # what A1111 lists


@dataclass
class CheckpointInfo:
    filename: Path  # absolute path of the file (or diffusers folder)
    name: str  # relative to its scan root, "/" separated: "sub/model.safetensors"
    model_name: str  # name without extension: "sub/model"
    sha256: str | None = None
    shorthash: str | None = None
    title: str = ""  # "sub/model.safetensors [abcdef0123]", or just the name while the hash is unknown
    config: Path | None = None  # A1111-style .yaml beside the file
    is_diffusers_dir: bool = False
    fetch: Callable[[], Path] | None = None  # --models-url: downloads the file into the cache (before a load)

    def __post_init__(self) -> None:
        self.filename = Path(self.filename)
        if self.sha256 and not self.shorthash:
            self.shorthash = shorthash(self.sha256)
        if not self.title:
            self.title = f"{self.name} [{self.shorthash}]" if self.shorthash else self.name

    @property
    def stem(self) -> str:
        return self.filename.stem if not self.is_diffusers_dir else self.filename.name


def _yaml_beside(path: Path) -> Path | None:
    candidate = path.with_suffix(".yaml")
    return candidate if candidate.is_file() else None


def scan_checkpoints(root: Path, cache_file: Path | None) -> list[CheckpointInfo]:
    """Every checkpoint file and diffusers folder under `root` (recursive, symlinks followed)."""
    found: list[CheckpointInfo] = []
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        if (here / "model_index.json").is_file() and here != root:
            rel = here.relative_to(root).as_posix()
            found.append(CheckpointInfo(filename=here.resolve(), name=rel, model_name=rel, is_diffusers_dir=True))
            dirnames.clear()  # do not descend into its unet/ vae/ ... folders
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            path = here / fname
            if fname.startswith(".") or path.suffix.lower() not in CHECKPOINT_SUFFIXES:
                continue
            rel = path.relative_to(root).as_posix()
            sha = sha256_file(path, cache_file) if cache_file is not None else None
            found.append(CheckpointInfo(filename=path.resolve(), name=rel, model_name=rel.rsplit(".", 1)[0],
                                        sha256=sha, config=_yaml_beside(path)))
    return found


class CheckpointRegistry:
    """Thread-safe catalogue of the checkpoints in `paths.ckpt_dirs`."""

    def __init__(self, paths: DataPaths, *, hash_on_scan: bool = True, remote: Any = None):
        self.paths = paths
        self.hash_on_scan = hash_on_scan
        self.remote = remote  # modules.storage.model_cache.RemoteModels (--models-url) or None
        self._lock = threading.RLock()
        self._items: list[CheckpointInfo] = []
        self.on_refreshed: list[Callable[[], object]] = []  # called after every rescan (modules/model_registry/current.py)

    def refresh(self) -> list[CheckpointInfo]:
        """Rescan every checkpoint folder; the first folder wins when two give the same name."""
        cache = self.paths.hash_cache_file if self.hash_on_scan else None
        items: dict[str, CheckpointInfo] = {}
        for root in self.paths.ckpt_dirs:
            for info in scan_checkpoints(Path(root), cache):
                items.setdefault(info.name, info)
        for model in self.remote.models("checkpoint", CHECKPOINT_SUFFIXES) if self.remote is not None else []:
            # a local file of the same name wins; remote ones have no hash until downloaded (title = name)
            items.setdefault(model.name, CheckpointInfo(
                filename=self.remote.local_path(model), name=model.name, model_name=model.name.rsplit(".", 1)[0],
                fetch=lambda model=model: self.remote.fetch(model)))
        ordered = sorted(items.values(), key=lambda i: i.name.lower())
        with self._lock:
            self._items = ordered
        log.info("Found %d checkpoints", len(ordered))
        for listener in self.on_refreshed:
            listener()
        return list(ordered)

    def list(self) -> list[CheckpointInfo]:
        with self._lock:
            return list(self._items)

    def first(self) -> CheckpointInfo | None:
        with self._lock:
            return self._items[0] if self._items else None

    def get(self, alias: str, *, field: str = "sd_model_checkpoint") -> CheckpointInfo:
        """Find by title, name, file name, model_name, stem, 10-char short hash or full sha256."""
        wanted = (alias or "").strip()
        with self._lock:
            items = list(self._items)
        for key in (_exact_keys, _loose_keys):
            for info in items:
                if wanted in key(info):
                    return info
        titles = [i.title for i in items]
        close = difflib.get_close_matches(wanted, titles + [i.name for i in items], n=3, cutoff=0.4)
        close = list(dict.fromkeys(close))
        hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
        listed = ", ".join(repr(t) for t in titles[:20])
        known = f" Available: {listed}." if titles else " No checkpoints are installed."
        raise ModelNotFoundError(f"Checkpoint {alias!r} not found.{hint}{known}", field=field)


def _exact_keys(info: CheckpointInfo) -> set[str]:
    keys = {info.title, info.name, info.model_name}
    if info.sha256:
        keys |= {info.sha256, info.shorthash or ""}
    return keys


def _loose_keys(info: CheckpointInfo) -> set[str]:
    return {info.filename.name, info.stem, info.name.rsplit("/", 1)[-1], f"{info.filename.name} [{info.shorthash}]"}
