"""tus 1.0.0 upload store: part files plus JSON sidecars under `<data>/cache/uploads/`, surviving restarts.

The offset of an unfinished upload is the size of its part file (what reached the disk is what counts, so a
crash between a write and a sidecar update loses nothing). sha256 is computed while writing; hashlib state
cannot be saved, so after a restart the first PATCH re-hashes the existing part, streaming, once.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from anyio import to_thread
from starlette.requests import ClientDisconnect

from modules.errors import NotFoundError

from .errors import ConflictError, GoneError, PayloadTooLargeError
from .fileops import place_file
from .paths import Resolved

TUS_VERSION = "1.0.0"
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
FLUSH_BYTES = 1 << 20
HASH_BLOCK = 1 << 20
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass
class Upload:
    """One upload's sidecar. `folder` is the destination folder as an API path, `result` set once placed."""

    id: str
    length: int
    filename: str
    folder: str
    overwrite: bool
    metadata: dict[str, str] = field(default_factory=dict)
    created: float = 0.0
    expires: float = 0.0
    completed: bool = False
    result: dict[str, Any] | None = None

    @property
    def target_path(self) -> str:
        return f"{self.folder}/{self.filename}" if self.folder else self.filename


class UploadStore:
    """Unfinished and recently finished uploads in one folder; one asyncio lock per upload guards writes."""

    def __init__(self, upload_dir: Path, *, expiry_s: float):
        self.dir = Path(upload_dir)
        self.expiry_s = expiry_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._hashers: dict[str, tuple[Any, int]] = {}

    def part_path(self, upload_id: str) -> Path:
        return self.dir / f"{upload_id}.part"

    def meta_path(self, upload_id: str) -> Path:
        return self.dir / f"{upload_id}.json"

    def lock(self, upload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(upload_id, asyncio.Lock())

    def create(self, *, length: int, filename: str, folder: str, overwrite: bool,
               metadata: dict[str, str]) -> Upload:
        """A new empty upload (part file + sidecar)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        upload = Upload(id=secrets.token_hex(16), length=length, filename=filename, folder=folder,
                        overwrite=overwrite, metadata=metadata, created=now, expires=now + self.expiry_s)
        os.close(os.open(self.part_path(upload.id), os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o600))
        self.save(upload)
        self._hashers[upload.id] = (hashlib.sha256(), 0)
        return upload

    def save(self, upload: Upload) -> None:
        """Write the sidecar atomically (temp file + rename)."""
        tmp = self.meta_path(upload.id).with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(upload)), encoding="utf-8")
        os.replace(tmp, self.meta_path(upload.id))

    def get(self, upload_id: str) -> Upload:
        """The upload, 404 when unknown (or a malformed id), 410 when it expired (it is removed then)."""
        if not UPLOAD_ID.match(upload_id):
            raise NotFoundError(f"upload {upload_id!r} not found")
        try:
            data = json.loads(self.meta_path(upload_id).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise NotFoundError(f"upload {upload_id} not found") from exc
        upload = Upload(**data)
        if upload.expires < time.time():
            self.terminate(upload_id)
            raise GoneError(f"upload {upload_id} expired")
        if not upload.completed and not self.part_path(upload_id).is_file():
            raise NotFoundError(f"upload {upload_id}: part file is missing")
        return upload

    def offset(self, upload: Upload) -> int:
        if upload.completed:
            return upload.length
        return self.part_path(upload.id).stat().st_size

    def touch(self, upload: Upload) -> None:
        upload.expires = time.time() + self.expiry_s
        self.save(upload)

    def terminate(self, upload_id: str) -> None:
        """Remove the part and the sidecar (a placed file stays where it is)."""
        for path in (self.part_path(upload_id), self.meta_path(upload_id)):
            path.unlink(missing_ok=True)
        self._hashers.pop(upload_id, None)
        self._locks.pop(upload_id, None)

    def sweep(self) -> int:
        """Remove expired uploads; returns how many."""
        removed = 0
        now = time.time()
        for meta in self.dir.glob("*.json") if self.dir.is_dir() else ():
            try:
                expires = float(json.loads(meta.read_text(encoding="utf-8")).get("expires", 0))
            except (OSError, ValueError, AttributeError):
                continue
            if expires < now and UPLOAD_ID.match(meta.stem):
                self.terminate(meta.stem)
                removed += 1
        return removed

    def _hasher_at(self, upload_id: str, offset: int) -> Any:
        """The running sha256 at `offset`, rebuilt from the part file when unknown (after a restart)."""
        known = self._hashers.get(upload_id)
        if known is not None and known[1] == offset:
            return known[0]
        digest = hashlib.sha256()
        remaining = offset
        with open(self.part_path(upload_id), "rb") as handle:
            while remaining and (block := handle.read(min(HASH_BLOCK, remaining))):
                digest.update(block)
                remaining -= len(block)
        return digest

    async def append(self, upload: Upload, offset: int, chunks: AsyncIterator[bytes],
                     content_length: int | None) -> int:
        """Stream a PATCH body onto the part (caller holds `lock(upload.id)`); returns the new offset.

        409 when `offset` is not the current one, 413 for bytes past Upload-Length (what fits is kept).
        A client that disconnects keeps every byte received so far: the next HEAD reports it.
        """
        current = self.offset(upload)
        if offset != current:
            raise ConflictError(f"Upload-Offset {offset} does not match the current offset {current}",
                                field="Upload-Offset")
        if content_length is not None and offset + content_length > upload.length:
            raise PayloadTooLargeError(f"{content_length} bytes at offset {offset} exceed Upload-Length "
                                       f"{upload.length}")
        hasher = await to_thread.run_sync(self._hasher_at, upload.id, current)
        fd = os.open(self.part_path(upload.id), _OPEN_FLAGS)
        buffer = bytearray()
        written = current
        overflow = False

        def flush() -> None:
            nonlocal written
            view = memoryview(buffer)
            while view:
                view = view[os.write(fd, view):]
            hasher.update(buffer)
            written += len(buffer)

        try:
            async for chunk in chunks:
                room = upload.length - written - len(buffer)
                if len(chunk) > room:
                    buffer += chunk[:room]
                    overflow = True
                    break
                buffer += chunk
                if len(buffer) >= FLUSH_BYTES:
                    await to_thread.run_sync(flush)
                    buffer.clear()
        except ClientDisconnect:
            pass  # keep what arrived; the client resumes from HEAD
        finally:
            if buffer:
                await to_thread.run_sync(flush)
                buffer.clear()
            os.close(fd)
            self._hashers[upload.id] = (hasher, written)
        self.touch(upload)
        if overflow:
            raise PayloadTooLargeError(f"the body runs past Upload-Length {upload.length}; "
                                       f"kept the bytes up to it")
        return written

    def digest(self, upload: Upload) -> str:
        """sha256 hex of the complete part (from the running hash when this process saw every byte)."""
        return self._hasher_at(upload.id, upload.length).hexdigest()

    def finish(self, upload: Upload, target: Resolved) -> dict[str, Any]:
        """Move the complete part to `target` (409 when it exists without overwrite: the part is kept),
        record and return `{path, size, sha256}`."""
        sha256 = self.digest(upload)
        try:
            target.lexical.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise ConflictError(f"path: {Path(target.rel).parent.as_posix()} is a file, not a folder",
                                field="path") from exc
        place_file(self.part_path(upload.id), target.lexical, overwrite=upload.overwrite)
        upload.completed = True
        upload.result = {"path": target.rel, "size": upload.length, "sha256": sha256}
        self.touch(upload)
        self._hashers.pop(upload.id, None)
        return upload.result
