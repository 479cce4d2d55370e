"""Local-disk storage under one root folder (the data dir's outputs/ by default)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from modules.errors import ConflictError, ForbiddenPathError, NotFoundError
from modules.storage.base import Storage, normalize_key


class LocalStorage(Storage):
    """Objects are files under `root`; writes go to a temp file in the same folder, then `os.replace`."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / normalize_key(key)).resolve()
        if path != self.root and self.root not in path.parents:
            raise ForbiddenPathError(f"storage key {key!r} resolves outside the storage root", field="key")
        return path

    def write(self, key: str, data: bytes, *, overwrite: bool = True) -> str:
        key = normalize_key(key)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if overwrite:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)  # atomic "create if absent"
                except FileExistsError as e:
                    raise ConflictError(f"stored object {key!r} already exists", field="key") from e
                os.unlink(tmp)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def read(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise NotFoundError(f"stored object {key!r} not found", field="key")
        return path.read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        folder = self._path(prefix) if prefix else self.root
        if not folder.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in folder.rglob("*")
                      if p.is_file() and not p.name.startswith(".tmp-"))

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix)
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
        return count

    def filename(self, key: str) -> str:
        return str(self._path(key))

    def key_for(self, filename: str) -> str | None:
        path = Path(os.path.realpath(filename))
        if self.root not in path.parents:
            return None
        return path.relative_to(self.root).as_posix()

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None
