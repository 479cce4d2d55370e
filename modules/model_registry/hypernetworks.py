"""Hypernetwork files on disk: `models/hypernetworks` and `--hypernetwork-dir` (A1111's `list_hypernetworks`).

Every `*.pt` below the folders (recursively, case-insensitive name order); the name is the file stem, the first
folder wins a name, and a file named "None" is never listed (A1111: it would shadow the "None" choice).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)
NONE = "None"


@dataclass(frozen=True)
class HypernetworkOnDisk:
    name: str
    path: Path

    @property
    def stamp(self) -> tuple[float, int]:
        stat = self.path.stat()
        return stat.st_mtime, stat.st_size

    def as_api(self) -> dict:
        """The `/sdapi/v1/hypernetworks` item."""
        return {"name": self.name, "path": str(self.path)}


class HypernetworkRegistry:
    def __init__(self, folders: tuple[Path, ...] | list[Path]):
        self.folders = [Path(f) for f in folders]
        self._lock = threading.RLock()
        self._items: dict[str, HypernetworkOnDisk] = {}

    def refresh(self) -> None:
        found: dict[str, HypernetworkOnDisk] = {}
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*.pt"), key=lambda p: str(p).lower()):
                if path.is_file() and path.stem != NONE:
                    found.setdefault(path.stem, HypernetworkOnDisk(path.stem, path.resolve()))
        with self._lock:
            self._items = found
        logger.info("found %d hypernetwork(s)", len(found))

    def list(self) -> list[HypernetworkOnDisk]:
        with self._lock:
            return list(self._items.values())

    def names(self) -> list[str]:
        return [item.name for item in self.list()]

    def find(self, name: str) -> HypernetworkOnDisk | None:
        """By file stem; rescans once when not found (a file copied in since the last scan)."""
        with self._lock:
            item = self._items.get(name)
        if item is None:
            self.refresh()
            with self._lock:
                item = self._items.get(name)
        return item if item is not None and item.path.is_file() else None
