"""Confinement: the one place a user-supplied path becomes a filesystem path.

Every path parameter (query strings, JSON bodies, tus metadata) goes through `PathGuard.resolve`, which
- refuses NUL bytes, backslashes and `..` components outright (403), whatever they would resolve to;
- treats an absolute path as a filesystem path, accepted only when it lies inside the data dir;
- resolves symlinks with `os.path.realpath` and checks the result with `os.path.commonpath` against the
  realpath of the data dir (starlette's `StaticFiles.lookup_path` guard, plus a separator-safe prefix test),
  so a symlink anywhere in the chain that points outside - or a dangling one that would - is refused (403).

Symlink policy: a symlink whose target lies outside the data dir is refused by every operation (list into,
download, info, thumbnail, move, delete, upload over it); listing shows it flagged `outside: true` so an admin
can remove it on the server. A symlink that stays inside is followed for reading and is itself what
move/delete act on (deleting it removes the link, never the target). Writes never go through a symlink:
existence checks use `os.path.lexists` and files are placed with link/replace, which act on the link itself.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modules.errors import ForbiddenPathError, InvalidRequestError, NotFoundError

MAX_PATH_CHARS = 4096


@dataclass(frozen=True)
class Resolved:
    """A confined path.

    lexical: data dir + the user's components (symlinks not resolved): what move/delete/create act on.
    real: its realpath, inside the data dir: what reads open.
    rel: the POSIX path relative to the data dir ("" for the root), as the API shows it.
    """

    lexical: Path
    real: Path
    rel: str

    @property
    def is_root(self) -> bool:
        return self.rel == ""

    @property
    def name(self) -> str:
        return self.lexical.name

    def exists(self) -> bool:
        """True when the name exists, even as a dangling symlink."""
        return os.path.lexists(self.lexical)


def is_within(root: str, candidate: str) -> bool:
    """True when `candidate` equals `root` or lies below it (both absolute, normalised)."""
    try:
        common = os.path.commonpath([root, candidate])
    except ValueError:  # different drives / mix of absolute and relative
        return False
    return common == root and (candidate == root or candidate.startswith(root.rstrip(os.sep) + os.sep))


class PathGuard:
    """Resolves user paths against one data dir and refuses anything that escapes it."""

    def __init__(self, data_dir: Path | str):
        self.configured = os.path.abspath(os.fspath(data_dir))
        self.root = os.path.realpath(self.configured)

    def resolve(self, user_path: str | None, *, field: str = "path") -> Resolved:
        """The confined form of `user_path` (relative to the data dir; "" or None is the root).

        Raises ForbiddenPathError (403) for anything that escapes or smuggles, InvalidRequestError (422) for a
        path that is not a string or is absurdly long. Existence is not checked here.
        """
        if user_path is None:
            user_path = ""
        if not isinstance(user_path, str):
            raise InvalidRequestError(f"{field}: expected a string path", field=field)
        if len(user_path) > MAX_PATH_CHARS:
            raise InvalidRequestError(f"{field}: path longer than {MAX_PATH_CHARS} characters", field=field)
        if "\x00" in user_path:
            raise ForbiddenPathError(f"{field}: NUL byte in path")
        if "\\" in user_path:
            raise ForbiddenPathError(f"{field}: backslashes are not allowed in paths")
        parts = self._components(user_path, field)
        lexical = Path(self.root).joinpath(*parts)
        real = os.path.realpath(lexical)
        # The parent is checked too: move/delete act on the lexical entry, which must sit in a folder inside
        # (data/out -> /tmp plus /tmp/x -> data/models would otherwise let `out/x` touch /tmp/x).
        if not is_within(self.root, real) or (parts and not is_within(self.root, os.path.realpath(lexical.parent))):
            raise ForbiddenPathError(f"{field}: {user_path!r} resolves outside the data dir")
        return Resolved(lexical=lexical, real=Path(real), rel="/".join(parts))

    def _components(self, user_path: str, field: str) -> list[str]:
        if os.path.isabs(user_path):
            normal = os.path.normpath(user_path)
            for base in (self.root, self.configured):
                if is_within(base, normal):
                    user_path = os.path.relpath(normal, base)
                    break
            else:
                raise ForbiddenPathError(f"{field}: {user_path!r} is outside the data dir")
        parts = [p for p in user_path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ForbiddenPathError(f"{field}: '..' is not allowed in paths")
        return parts

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

    def relative(self, real: Path | str) -> str:
        """The API path of a real path inside the data dir."""
        rel = os.path.relpath(os.fspath(real), self.root)
        return "" if rel == "." else Path(rel).as_posix()


def check_name(name: str, *, field: str = "name") -> str:
    """Validates a single file name (used for tus `filename`): 422 when empty, 403 when it smuggles a path."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequestError(f"{field}: a file name is required", field=field)
    if any(ch in name for ch in ("/", "\\", "\x00")) or name in (".", ".."):
        raise ForbiddenPathError(f"{field}: {name!r} is not a plain file name")
    if len(name.encode("utf-8", "surrogatepass")) > 255:
        raise InvalidRequestError(f"{field}: file name longer than 255 bytes", field=field)
    return name


def is_under(rel: str, top: str) -> bool:
    """True when the API path `rel` is `top` or lies below it (e.g. is_under('models/Lora/x', 'models'))."""
    return rel == top or rel.startswith(top.rstrip("/") + "/")
