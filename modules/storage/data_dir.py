"""The data dir's output files (the A1111 outputs folders, managed-service `save_dir` images) kept in an object
store when `--storage-url` names one.

Callers address files by their data-dir-relative key ("outputs/txt2img-images/2024-05-01/00000-1.png"), as
with the local default (a LocalStorage rooted at the data dir). In the store, the data dir's `outputs/` folder
is the store's root, as the local default's result store is the outputs folder itself: `outputs/<rest>` is
stored as `<rest>` (next to `tasks/`), a file elsewhere in the data dir (an `outdir_*` option or a `save_dir`
outside outputs/) as `_data/<its data-dir path>`.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from modules.errors import ForbiddenPathError, InvalidRequestError
from modules.storage.base import ObjectInfo, Storage, normalize_key, normalize_prefix

OTHER = "_data"  # the store folder for data-dir files outside outputs/


class DataDirStore(Storage):
    """Data-dir-relative keys over `inner` (the configured object store)."""

    def __init__(self, inner: Storage, data_dir: Path, outputs_dir: Path):
        self.inner = inner
        self.root = Path(data_dir).resolve()
        self.outputs = Path(outputs_dir).resolve().relative_to(self.root).as_posix()
        self.scheme, self.bucket, self.prefix = inner.scheme, inner.bucket, inner.prefix

    # -- the key mapping --------------------------------------------------------------------------------------
    def store_key(self, key: str) -> str:
        """The key in the configured store of the data-dir file `key`."""
        key = normalize_key(key)
        if key.startswith(self.outputs + "/"):
            return key[len(self.outputs) + 1:]
        if key == self.outputs:
            raise InvalidRequestError(f"storage key {key!r} names the outputs folder itself", field="key")
        return f"{OTHER}/{key}"

    def data_key(self, store_key: str) -> str:
        """The data-dir-relative key of an object of the configured store."""
        if store_key.startswith(OTHER + "/"):
            return store_key[len(OTHER) + 1:]
        return f"{self.outputs}/{store_key}"

    def _info(self, info: ObjectInfo) -> ObjectInfo:
        return ObjectInfo(self.data_key(info.key), info.size, info.mtime, info.etag)

    # -- the interface ----------------------------------------------------------------------------------------
    def write(self, key: str, data: bytes) -> str:
        self.inner.write(self.store_key(key), data)
        return normalize_key(key)

    def write_file(self, key: str, path: Path) -> str:
        self.inner.write_file(self.store_key(key), path)
        return normalize_key(key)

    def write_new(self, key: str, data: bytes) -> str:
        self.inner.write_new(self.store_key(key), data)
        return normalize_key(key)

    def open_stream(self, key: str) -> BinaryIO:
        return self.inner.open_stream(self.store_key(key))

    def stat(self, key: str) -> ObjectInfo:
        return self._info(self.inner.stat(self.store_key(key)))

    def exists(self, key: str) -> bool:
        return self.inner.exists(self.store_key(key))

    def delete(self, key: str) -> None:
        self.inner.delete(self.store_key(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        prefix = normalize_prefix(prefix)
        if not prefix:
            return (self._info(info) for info in self.inner.list(""))
        if prefix == self.outputs:
            return (self._info(info) for info in self.inner.list("") if not info.key.startswith(OTHER + "/"))
        return (self._info(info) for info in self.inner.list(self.store_key(prefix)))

    def signed_url(self, key: str, expires: int) -> str | None:
        return self.inner.signed_url(self.store_key(key), expires)

    def reference(self, key: str) -> str:
        return self.inner.reference(self.store_key(key))

    def key_for(self, reference: str) -> str | None:
        """The key of a data-dir path (the outputs folders are named by local paths) or of a store reference."""
        if "://" not in reference:
            path = Path(os.path.realpath(reference))
            if self.root not in path.parents:
                return None
            try:
                return normalize_key(path.relative_to(self.root).as_posix())
            except (InvalidRequestError, ForbiddenPathError):
                return None
        inner = self.inner.key_for(reference)
        return self.data_key(inner) if inner is not None else None

    def describe(self) -> str:
        return f"{self.inner.describe()} (data-dir files)"
