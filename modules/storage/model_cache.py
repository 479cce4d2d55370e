"""`--models-url oss://bucket/models` (or `s3://`): checkpoints and VAEs kept in object storage, listed beside the
local files and downloaded on first use into an LRU disk cache (`<data dir>/cache/remote-models/`, bounded by
`--model-cache-gb`); LoRAs mirrored into the cache when the LoRA list is refreshed (their list needs each file's
metadata, and they are small), outside the LRU budget, so a listed LoRA is always on disk.

The store holds A1111's folder layout: `<prefix>/Stable-diffusion/...`, `<prefix>/VAE/...`, `<prefix>/Lora/...`. A cached file is
reused while its object's ETag is unchanged (modules/storage/download.py keeps a `<file>.source.json` sidecar);
a file's last use is its sidecar's mtime, and the least recently used files go first when the cache is over its
budget (never the file being fetched). A file that is memory-mapped while it is evicted stays readable: unlinking
keeps the inode alive until it is unmapped.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from modules.errors import EaselError
from modules.storage.base import Storage
from modules.storage.download import download_object, sidecar_path

logger = logging.getLogger(__name__)
FOLDERS = {"checkpoint": "Stable-diffusion", "vae": "VAE", "lora": "Lora"}
MIRRORED = ("lora",)  # kinds copied whole at listing time, never evicted


@dataclass(frozen=True)
class RemoteModel:
    kind: str  # "checkpoint", "vae" or "lora"
    name: str  # relative to the kind's folder: "sub/model.safetensors"
    key: str  # in the store
    size: int
    etag: str | None


class RemoteModels:
    """The models of one store, and their local cache."""

    def __init__(self, store: Storage, cache_dir: Path, max_bytes: int):
        self.store = store
        self.cache_dir = Path(cache_dir)
        self.max_bytes = max_bytes  # 0: unbounded
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.store.describe()

    def models(self, kind: str, suffixes: tuple[str, ...]) -> list[RemoteModel]:
        """The store's models of `kind`; an unreachable store is logged and lists nothing (local files still do)."""
        folder = FOLDERS[kind]
        try:
            infos = list(self.store.list(folder))
        except EaselError as e:
            logger.warning("--models-url: cannot list %s in %s: %s", folder, self.store.describe(), e.message)
            return []
        return [RemoteModel(kind, info.key[len(folder) + 1:], info.key, info.size, info.etag) for info in infos
                if info.key.lower().endswith(suffixes) and not info.key.rsplit("/", 1)[-1].startswith(".")]

    def local_path(self, model: RemoteModel) -> Path:
        """Where the model's file is (or will be) in the cache."""
        return self.cache_dir / FOLDERS[model.kind] / model.name

    def fetch(self, model: RemoteModel) -> Path:
        """The model as a local file: downloaded unless the cached copy has the object's ETag; then the cache
        is trimmed to its budget."""
        path = self.local_path(model)
        with self._lock:  # one download at a time: they compete for the same disk budget
            got = download_object(self.store, model.key, path)
            os.utime(sidecar_path(path))  # the last use, for the LRU order
            if not got.reused:
                logger.info("--models-url: %s cached as %s (%d bytes)", model.key, path, got.size)
            self._trim(keep=path)
        return path

    def mirror(self, kind: str, suffixes: tuple[str, ...]) -> Path:
        """Copy the store's models of `kind` into the cache (an unchanged ETag is not downloaded again) and remove
        cached ones the store no longer has; returns the cache folder, to scan beside the local folders. A model
        that cannot be downloaded is logged and left out."""
        folder = self.cache_dir / FOLDERS[kind]
        listed = self.models(kind, suffixes)
        wanted = {self.local_path(model) for model in listed}
        with self._lock:
            for model in listed:
                try:
                    got = download_object(self.store, model.key, self.local_path(model), progress=False)
                except EaselError as e:
                    logger.warning("--models-url: cannot copy %s: %s", model.key, e.message)
                    continue
                if not got.reused:
                    logger.info("--models-url: %s copied to %s (%d bytes)", model.key, got.path, got.size)
            if folder.is_dir():
                for sidecar in folder.rglob("*.source.json"):
                    local = sidecar.with_name(sidecar.name[: -len(".source.json")])
                    if local not in wanted:
                        local.unlink(missing_ok=True)
                        sidecar.unlink(missing_ok=True)
                        logger.info("--models-url: %s is gone from the store; removed from the cache", local)
        return folder

    def _entries(self) -> list[tuple[float, int, Path]]:
        mirrored = [self.cache_dir / FOLDERS[kind] for kind in MIRRORED]
        found = []
        for sidecar in self.cache_dir.rglob("*.source.json"):
            if any(sidecar.is_relative_to(folder) for folder in mirrored):
                continue  # mirrored kinds are not part of the LRU budget
            model = sidecar.with_name(sidecar.name[: -len(".source.json")])
            if model.is_file():
                found.append((sidecar.stat().st_mtime, model.stat().st_size, model))
        return sorted(found)

    def _trim(self, keep: Path) -> None:
        if not self.max_bytes:
            return
        entries = self._entries()
        total = sum(size for _, size, _ in entries)
        for _, size, model in entries:
            if total <= self.max_bytes:
                break
            if model == keep:
                continue
            model.unlink(missing_ok=True)
            sidecar_path(model).unlink(missing_ok=True)
            total -= size
            logger.info("--models-url: evicted %s from the model cache (%d bytes left of %d)", model, total,
                        self.max_bytes)
