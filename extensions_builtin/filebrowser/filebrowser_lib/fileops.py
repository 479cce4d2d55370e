"""Write operations: mkdir, move/rename, delete, and placing a finished upload. All inputs are confined already."""
from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path

from modules.errors import ForbiddenPathError, InvalidRequestError, NotFoundError

from .errors import ConflictError
from .paths import PathGuard, Resolved, is_under, is_within

RESERVED = "cache/uploads"
"""Folder of tus part files: nothing may be created or moved into it through the API."""
COPY_CHUNK = 1 << 20


def check_not_reserved(target: Resolved, *, field: str) -> None:
    """403 for a write target inside the upload store."""
    if is_under(target.rel, RESERVED):
        raise ForbiddenPathError(f"{field}: {RESERVED}/ is reserved for uploads in progress")


def make_dir(target: Resolved) -> None:
    """Create a folder (and missing parents); 409 when the name exists."""
    check_not_reserved(target, field="path")
    if target.is_root or target.exists():
        raise ConflictError(f"path: {target.rel or '/'} already exists", field="path")
    target.lexical.mkdir(parents=True)


def move(guard: PathGuard, src: Resolved, dst: Resolved, *, overwrite: bool) -> None:
    """Rename or move `src` to `dst` (a full path). A symlink inside moves as the link.

    An existing `dst` is a 409 unless `overwrite`; even then a folder is never replaced (delete it first).
    """
    if src.is_root:
        raise ForbiddenPathError("src: refusing to move the data dir itself")
    if not src.exists():
        raise NotFoundError(f"src: {src.rel} does not exist")
    check_not_reserved(dst, field="dst")
    if dst.is_root or dst.lexical == src.lexical:
        raise InvalidRequestError("dst: source and destination are the same", field="dst")
    if src.real.is_dir() and not src.lexical.is_symlink() and is_within(str(src.real), str(dst.real)):
        raise InvalidRequestError("dst: cannot move a folder into itself", field="dst")
    if not dst.lexical.parent.is_dir():
        raise NotFoundError(f"dst: destination folder {Path(dst.rel).parent.as_posix()} does not exist")
    if dst.exists():
        if not overwrite:
            raise ConflictError(f"dst: {dst.rel} already exists; pass overwrite=true to replace it", field="dst")
        if dst.real.is_dir() and not dst.lexical.is_symlink():
            raise ConflictError(f"dst: {dst.rel} is a folder and is never overwritten; delete it first", field="dst")
        os.unlink(dst.lexical)
    try:
        os.rename(src.lexical, dst.lexical)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(os.fspath(src.lexical), os.fspath(dst.lexical))


def delete(target: Resolved) -> None:
    """Delete a file, a folder tree or a symlink (the link only). The data dir itself is refused."""
    if target.is_root:
        raise ForbiddenPathError("path: refusing to delete the data dir itself")
    if not target.exists():
        raise NotFoundError(f"path: {target.rel} does not exist")
    if target.lexical.is_symlink() or not target.lexical.is_dir():
        os.unlink(target.lexical)
    else:
        shutil.rmtree(target.lexical)


def place_file(src: Path, dst: Path, *, overwrite: bool) -> None:
    """Atomically move a finished part file to `dst`. Without overwrite an existing name (even a dangling
    symlink) is a 409, decided atomically by link(2); across file systems the copy lands under a temporary
    name in the destination folder first."""
    if overwrite and dst.is_dir() and not dst.is_symlink():
        raise ConflictError(f"{dst.name} is a folder and is never overwritten", field="path")
    try:
        if overwrite:
            os.replace(src, dst)
        else:
            os.link(src, dst)
            os.unlink(src)
        return
    except FileExistsError as exc:
        raise ConflictError(f"{dst.name} already exists; upload with overwrite=true to replace it",
                            field="path") from exc
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
            raise
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(src, "rb") as reader, open(tmp, "xb") as writer:
            shutil.copyfileobj(reader, writer, COPY_CHUNK)
        if not overwrite and os.path.lexists(dst):
            raise ConflictError(f"{dst.name} already exists; upload with overwrite=true to replace it", field="path")
        os.replace(tmp, dst)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    os.unlink(src)
