"""The storage interface: images and other outputs addressed by a relative key ("tasks/<id>/00000.png").

The local-disk implementation is the default (modules/storage/local.py); object storage (OSS, S3) plugs in
behind the same interface. Callers never assume keys are local files: they use `read`/`write`, and ask
`local_path` only where a local file is an optimisation (it returns None for remote backends).
"""
from __future__ import annotations

import posixpath
import re
from abc import ABC, abstractmethod
from pathlib import Path

from modules.errors import ForbiddenPathError, InvalidRequestError

_BAD_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
MAX_KEY_LENGTH = 1024


def normalize_key(key: str) -> str:
    """A clean relative key ("a/b/c.png"); raises ForbiddenPathError on traversal or absolute keys."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or _BAD_KEY_CHARS.search(key):
        raise InvalidRequestError(f"invalid storage key {key!r}", field="key")
    if key.startswith("/") or posixpath.isabs(key):
        raise ForbiddenPathError(f"storage key {key!r} must be relative", field="key")
    parts = key.split("/")
    if any(part in ("", ".", "..") or part != part.strip() for part in parts):
        raise ForbiddenPathError(f"storage key {key!r} escapes the storage root or has empty parts", field="key")
    return "/".join(parts)


class Storage(ABC):
    """Where outputs live. Keys are relative, "/"-separated and validated by `normalize_key`."""

    @abstractmethod
    def write(self, key: str, data: bytes, *, overwrite: bool = True) -> str:
        """Store `data` under `key` atomically (readers see the old object or the new one); returns the key.
        With `overwrite=False` an existing object is left alone and ConflictError is raised."""

    @abstractmethod
    def read(self, key: str) -> bytes:
        """The stored bytes; NotFoundError when absent."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """The keys directly or indirectly under `prefix/` ("" for everything), sorted."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix/`; returns how many were removed."""

    @abstractmethod
    def filename(self, key: str) -> str:
        """A name for the object that people and extensions understand: a local path, or a URL."""

    @abstractmethod
    def key_for(self, filename: str) -> str | None:
        """The key of a `filename` given by `filename()` (or edited from one), or None when it is not ours."""

    def local_path(self, key: str) -> Path | None:
        """A local file holding the object, when the backend is local (for efficient serving); else None."""
        return None
