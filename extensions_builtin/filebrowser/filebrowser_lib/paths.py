"""Confinement: every user-supplied path (query strings, JSON bodies, tus metadata) goes through `PathGuard`,
the core path guard (modules/path_guard.py) plus the FileBrowser's read/write rules:

- NUL bytes, backslashes and `..` components are refused outright (403), whatever they would resolve to; a path
  over 4096 characters or a name over 255 bytes is a 422;
- an absolute path is a filesystem path, accepted only when it lies inside the data dir;
- symlinks are resolved and the result must stay inside the realpath of the data dir (separator-safe), so a
  symlink anywhere in the chain that points outside - or a dangling one that would - is refused (403);
- the server's private files (the `private/` folder with the link and webhook secrets, the live task database
  and its -wal/-shm/-journal files) are refused by every route (403) and never listed or zipped, whatever the
  spelling (case, `./`, `//`, absolute, a symlink or hard link to them);
- the server's settings files (config.json, styles.csv, cache/) are readable, but writable (upload, overwrite,
  move, rename, delete, mkdir) only with `--filebrowser-allow-config`.

Symlink policy: a symlink whose target lies outside the data dir is refused by every operation (list into,
download, info, thumbnail, move, delete, upload over it); listing shows it flagged `outside: true` so an admin
can remove it on the server. A symlink that stays inside is followed for reading and is itself what
move/delete act on (deleting it removes the link, never the target). Writes never go through a symlink:
existence checks use `os.path.lexists` and files are placed with link/replace, which act on the link itself.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from modules import path_guard
from modules.errors import ForbiddenPathError, InvalidRequestError, NotFoundError
from modules.path_guard import MAX_PATH_CHARS, Confined, is_within  # noqa: F401  (re-exported for the routes)

Resolved = Confined


class PathGuard(path_guard.PathGuard):
    """Resolves user paths against one data dir; refuses escapes, private files and (unless allowed) writes to
    the server's settings files."""

    def __init__(self, data_dir: Path | str, *, protected: Iterable[Path | str] = (),
                 server_files: Iterable[Path | str] = (), allow_config: bool = False):
        super().__init__(data_dir, protected=protected)
        self.server_files = tuple(os.path.realpath(os.fspath(p)) for p in server_files)
        self.allow_config = allow_config

    def writable(self, target: Resolved, *, field: str = "path") -> Resolved:
        """`target` when a write may act on it: 403 for the server's settings files (without
        --filebrowser-allow-config) and for a folder that holds private files."""
        if not self.allow_config and self.is_server_file(target):
            raise ForbiddenPathError(f"{field}: {target.rel} is a server settings file; writing it through the "
                                     "FileBrowser needs --filebrowser-allow-config", field=field)
        if target.exists() and not target.lexical.is_symlink() and self.contains_protected(target):
            raise ForbiddenPathError(f"{field}: {target.rel or '/'} holds the server's private files", field=field)
        return target

    def is_server_file(self, target: Resolved) -> bool:
        for candidate in {os.fspath(target.real).casefold(), os.fspath(target.lexical).casefold()}:
            if any(is_within(p.casefold(), candidate) for p in self.server_files):
                return True
        return False

    def child(self, parent: Resolved, name: str, *, field: str = "name") -> Resolved:
        """`parent/name` where `name` must be one plain file name (no separators, not '.'/'..')."""
        check_name(name, field=field)
        return self.resolve(f"{parent.rel}/{name}" if parent.rel else name, field=field)

    def existing(self, user_path: str | None, *, field: str = "path") -> Resolved:
        """`resolve` plus a 404 when nothing is there once symlinks are followed (a dangling link is missing)."""
        resolved = self.resolve(user_path, field=field)
        if not resolved.real.exists():
            raise NotFoundError(f"{field}: {resolved.rel or '/'} does not exist")
        return resolved


def check_name(name: str, *, field: str = "name") -> str:
    """Validates a single file name (used for tus `filename`): 422 when empty, 403 when it smuggles a path."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequestError(f"{field}: a file name is required", field=field)
    if any(ch in name for ch in ("/", "\\", "\x00")) or name in (".", ".."):
        raise ForbiddenPathError(f"{field}: {name!r} is not a plain file name")
    return path_guard.check_name(name, field)


def is_under(rel: str, top: str) -> bool:
    """True when the API path `rel` is `top` or lies below it (e.g. is_under('models/Lora/x', 'models'))."""
    return rel == top or rel.startswith(top.rstrip("/") + "/")
