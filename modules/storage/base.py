"""The storage interface: images, inputs and other objects addressed by a relative key ("tasks/<id>/0.png").

Backends: local disk (modules/storage/local.py, the default), S3-compatible stores (s3.py, boto3) and Alibaba
OSS (oss.py, oss2); `modules.storage.factory.storage_from_url` picks one from `--storage-url`. Callers never
assume keys are local files: they use `write`/`read`/`open_stream`, and ask `local_path` only where a local
file is an optimisation (None for remote backends). A store that cannot be reached raises
`StorageUnavailableError` (503) after bounded retries; a missing object raises `NotFoundError`.
"""
from __future__ import annotations

import mimetypes
import posixpath
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from modules.errors import ConflictError, ForbiddenPathError, InvalidRequestError, NotFoundError

_KEY_PART = re.compile(r"^[A-Za-z0-9._()\-]+$")
CHUNK = 1 << 16


def normalize_key(key: str) -> str:
    """A clean relative key ("a/b/c.png"); raises ForbiddenPathError on traversal or absolute keys."""
    if not isinstance(key, str) or not key or "\\" in key or "\x00" in key:
        raise InvalidRequestError(f"invalid storage key {key!r}", field="key")
    if key.startswith("/") or posixpath.isabs(key):
        raise ForbiddenPathError(f"storage key {key!r} must be relative", field="key")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ForbiddenPathError(f"storage key {key!r} escapes the storage root", field="key")
    if not all(_KEY_PART.match(part) for part in parts):
        raise InvalidRequestError(f"storage key {key!r} has characters outside [A-Za-z0-9._()-]", field="key")
    return "/".join(parts)


def content_type(key: str) -> str:
    """The media type stored with an object (and served for it), from the key's extension."""
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def normalize_prefix(prefix: str) -> str:
    """A folder prefix: "" (everything) or a clean key without a trailing slash."""
    prefix = (prefix or "").strip("/")
    return normalize_key(prefix) if prefix else ""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key (relative to the store's root), size in bytes, modification time (unix
    seconds) and the store's ETag when it has one (quotes stripped)."""

    key: str
    size: int
    mtime: float
    etag: str | None = None


@dataclass(frozen=True)
class FolderListing:
    """One level of a folder: the keys of its sub-folders ("tasks/abc") and its objects, both in key order."""

    folders: list[str]
    objects: list[ObjectInfo]


class Storage(ABC):
    """Where results and inputs live. Keys are relative, "/"-separated and validated by `normalize_key`;
    a prefix names a folder ("tasks/abc" covers "tasks/abc/0.png", not "tasks/abcd/0.png")."""

    scheme = "file"
    bucket = ""  # object stores: the bucket and the key prefix everything lives under
    prefix = ""

    @abstractmethod
    def write(self, key: str, data: bytes) -> str:
        """Store `data` under `key` atomically (readers see the old object or the new one); returns the key."""

    @abstractmethod
    def write_file(self, key: str, path: Path) -> str:
        """Store a local file's content under `key` (large files go up in parts, resumably where the store
        can); atomic like `write`; returns the key."""

    @abstractmethod
    def open_stream(self, key: str) -> BinaryIO:
        """A readable binary stream of the object (use it as a context manager); NotFoundError when absent."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size, mtime and ETag of the object; NotFoundError when absent."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under the folder `prefix` (recursively), in key order."""

    def list_folder(self, prefix: str = "") -> FolderListing:
        """One level under the folder `prefix` (object stores list it with a delimiter, not recursively)."""
        folder = normalize_prefix(prefix)
        start = len(folder) + 1 if folder else 0
        folders: dict[str, None] = {}
        objects = []
        for info in self.list(folder):
            rest = info.key[start:]
            if "/" in rest:
                folders.setdefault(info.key[:start] + rest.split("/", 1)[0], None)
            else:
                objects.append(info)
        return FolderListing(sorted(folders), objects)

    @property
    def is_object_store(self) -> bool:
        """Whether the objects live in a remote store (OSS, S3) rather than in local files."""
        return self.scheme != "file"

    def read(self, key: str) -> bytes:
        """The stored bytes; NotFoundError when absent."""
        with self.open_stream(key) as stream:
            return stream.read()

    def read_limited(self, key: str, max_bytes: int, *, field: str = "key") -> bytes:
        """The stored bytes, refusing (InvalidRequestError naming `field`) an object over `max_bytes`."""
        parts, total = [], 0
        with self.open_stream(key) as stream:
            while total <= max_bytes and (block := stream.read(min(CHUNK, max_bytes + 1 - total))):
                parts.append(block)
                total += len(block)
        data = b"".join(parts)
        if len(data) > max_bytes:
            raise InvalidRequestError(f"{field}: the stored object {key!r} is larger than {max_bytes} bytes",
                                      field=field)
        return data

    def iter_chunks(self, key: str, size: int = CHUNK) -> Iterator[bytes]:
        """The object's bytes in chunks (for streaming responses); the object is opened before the first yield."""
        stream = self.open_stream(key)

        def chunks() -> Iterator[bytes]:
            with stream:
                while block := stream.read(size):
                    yield block
        return chunks()

    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        try:
            self.stat(key)
        except NotFoundError:
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under the folder `prefix`; returns how many were removed."""
        keys = [info.key for info in self.list(normalize_prefix(prefix))]
        for key in keys:
            self.delete(key)
        return len(keys)

    def write_new(self, key: str, data: bytes) -> str:
        """Store `data` only when nothing is stored under `key` yet; ConflictError otherwise (numbered output
        files). Atomic in every backend of Easel (local disk: O_EXCL; S3: `If-None-Match: *`; OSS:
        `x-oss-forbid-overwrite`); this fallback for other backends checks, then writes."""
        if self.exists(key):
            raise ConflictError(f"stored object {key!r} already exists", field="key")
        return self.write(key, data)

    def key_for(self, reference: str) -> str | None:
        """The key of an object named by `reference()` (or a name edited from one), or None when it is not in
        this store."""
        root = f"{self.scheme}://{self.bucket}/{self.prefix.strip('/') + '/' if self.prefix else ''}"
        if not reference.startswith(root):
            return None
        try:
            return normalize_key(reference[len(root):])
        except (InvalidRequestError, ForbiddenPathError):
            return None

    def signed_url(self, key: str, expires: int) -> str | None:
        """An expiring HTTPS (or HTTP, for a local test endpoint) URL that serves the object without other
        credentials; None when the backend has no such URLs (local disk: Easel's own /storage links serve it)."""
        return None

    def reference(self, key: str) -> str:
        """The store's own name for the object ("oss://bucket/prefix/key", "s3://...", a local path)."""
        return normalize_key(key)

    def local_path(self, key: str) -> Path | None:
        """A local file holding the object, when the backend is local (for efficient serving); else None."""
        return None

    def describe(self) -> str:
        """The store for logs and error messages (never a secret)."""
        return type(self).__name__

    def close(self) -> None:
        """Release connections."""
