"""The result-storage interface: images and other outputs addressed by a relative key ("tasks/<id>/0.png").

The local-disk implementation is the default (modules/storage/local.py); object storage (OSS, S3) plugs in
behind the same interface later. Callers never assume keys are local files: they use `read`/`write`, and ask
`local_path` only where a local file is an optimisation (it returns None for remote backends).
"""
from __future__ import annotations

import posixpath
import re
from abc import ABC, abstractmethod
from pathlib import Path

from modules.errors import ForbiddenPathError, InvalidRequestError

_KEY_PART = re.compile(r"^[A-Za-z0-9._()\-]+$")


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


class Storage(ABC):
    """Where task results live. Keys are relative, "/"-separated and validated by `normalize_key`."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> str:
        """Store `data` under `key` atomically (readers see the old object or the new one); returns the key."""

    @abstractmethod
    def read(self, key: str) -> bytes:
        """The stored bytes; NotFoundError when absent."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix/`; returns how many were removed."""

    def local_path(self, key: str) -> Path | None:
        """A local file holding the object, when the backend is local (for efficient serving); else None."""
        return None
