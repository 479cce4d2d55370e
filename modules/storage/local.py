"""Local-disk storage under one root folder (the data dir's outputs/ by default)."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from modules.errors import ConflictError, ForbiddenPathError, InvalidRequestError, NotFoundError
from modules.storage.base import ObjectInfo, Storage, normalize_key, normalize_prefix

_TMP_PREFIX = ".tmp-"


class LocalStorage(Storage):
    """Objects are files under `root`; writes go to a temp file in the same folder, then `os.replace`."""

    scheme = "file"

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / normalize_key(key)).resolve()
        if path != self.root and self.root not in path.parents:
            raise ForbiddenPathError(f"storage key {key!r} resolves outside the storage root", field="key")
        return path

    def _folder(self, prefix: str) -> Path:
        prefix = normalize_prefix(prefix)
        return self._path(prefix) if prefix else self.root

    def _replace_from(self, path: Path, fill) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write(self, key: str, data: bytes) -> str:
        key = normalize_key(key)
        self._replace_from(self._path(key), lambda handle: handle.write(data))
        return key

    def write_file(self, key: str, path: Path) -> str:
        key = normalize_key(key)

        def copy(handle) -> None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, handle, 1 << 20)
        self._replace_from(self._path(key), copy)
        return key

    def open_stream(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFoundError(f"stored object {key!r} not found", field="key") from None

    def read(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise NotFoundError(f"stored object {key!r} not found", field="key")
        return path.read_bytes()

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        if not path.is_file():
            raise NotFoundError(f"stored object {key!r} not found", field="key")
        st = path.stat()
        return ObjectInfo(key=normalize_key(key), size=st.st_size, mtime=st.st_mtime)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_file():
            path.unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        folder = self._folder(prefix)
        if not folder.is_dir():
            return iter(())
        found = []
        for path in folder.rglob("*"):
            if path.name.startswith(_TMP_PREFIX) or path.is_symlink() or not path.is_file():
                continue
            if self.root not in path.resolve().parents:  # under a symlinked folder that points elsewhere
                continue
            st = path.stat()
            found.append(ObjectInfo(key=path.relative_to(self.root).as_posix(), size=st.st_size, mtime=st.st_mtime))
        return iter(sorted(found, key=lambda info: info.key))

    def delete_prefix(self, prefix: str) -> int:
        folder = self._folder(prefix)
        if folder == self.root:
            return super().delete_prefix(prefix)
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
        return count

    def reference(self, key: str) -> str:
        return str(self._path(key))

    def key_for(self, reference: str) -> str | None:
        path = Path(os.path.realpath(reference))
        if self.root not in path.parents:
            return None
        try:
            return normalize_key(path.relative_to(self.root).as_posix())
        except (InvalidRequestError, ForbiddenPathError):
            return None

    def write_new(self, key: str, data: bytes) -> str:
        key = normalize_key(key)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, path)  # atomic "create if absent", with the whole content
        except FileExistsError as e:
            raise ConflictError(f"stored object {key!r} already exists", field="key") from e
        finally:
            Path(tmp).unlink(missing_ok=True)
        return key

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def describe(self) -> str:
        return f"local storage {self.root}"
