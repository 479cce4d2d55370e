"""The one path guard: every user- or option-supplied path becomes a filesystem path here.

Rules (docs/security.md):
- NUL bytes and backslashes are refused (403), `..` components are refused whatever they would resolve to (403);
- a path is at most MAX_PATH_CHARS characters and each component at most MAX_NAME_BYTES bytes (422);
- a relative path lies under the root; an absolute one is accepted only when it already lies inside the root
  (in its configured or its real spelling, or under one of the `aliases`, which stand for the root);
- symlinks are resolved (`os.path.realpath`) and the result must stay inside the realpath of the root, checked
  with a separator-safe test (`/data` does not contain `/datax`): a symlink out, dangling or not, is refused (403);
- `protected` paths (the server's private files) and everything below them are refused, compared by realpath,
  case-insensitively and, for files that exist, by inode, so no spelling, symlink or hard link reaches them;
- folders are created after the check, on the resolved path, one level at a time without following symlinks
  (`make_dirs`), so a symlink swapped in meanwhile cannot redirect the creation.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modules.errors import ForbiddenPathError, InvalidRequestError

MAX_PATH_CHARS = 4096
MAX_NAME_BYTES = 255


def is_within(root: str, candidate: str) -> bool:
    """True when `candidate` is `root` or lies below it (both absolute and normalised; separator-safe)."""
    try:
        common = os.path.commonpath([root, candidate])
    except ValueError:  # a mix of absolute and relative paths
        return False
    return common == root and (candidate == root or candidate.startswith(root.rstrip(os.sep) + os.sep))


def check_text(path: object, field: str) -> str:
    """The path as a string of sane length without NUL bytes or backslashes."""
    if not isinstance(path, str):
        raise InvalidRequestError(f"{field}: expected a path string, got {path!r}", field=field)
    if len(path) > MAX_PATH_CHARS:
        raise InvalidRequestError(f"{field}: path longer than {MAX_PATH_CHARS} characters", field=field)
    if "\x00" in path:
        raise ForbiddenPathError(f"{field}: NUL byte in path", field=field)
    if "\\" in path:
        raise ForbiddenPathError(f"{field}: backslashes are not allowed in paths", field=field)
    return path


def check_name(name: str, field: str) -> str:
    """One path component: at most MAX_NAME_BYTES bytes of UTF-8 (the file-system limit)."""
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidRequestError(f"{field}: the name {name[:40]!r}... is longer than {MAX_NAME_BYTES} bytes",
                                  field=field)
    return name


def components(path: str, field: str) -> list[str]:
    """The non-empty components of a relative POSIX path; `..` refused, each name length-checked."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ForbiddenPathError(f"{field}: '..' is not allowed in paths", field=field)
    return [check_name(p, field) for p in parts]


@dataclass(frozen=True)
class Confined:
    """A confined path.

    lexical: root + the caller's components (symlinks not resolved): what move/delete/create act on.
    real: its realpath, inside the root: what reads open.
    rel: the POSIX path relative to the root ("" for the root itself).
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


class PathGuard:
    """Resolves paths against one root; refuses whatever escapes it or reaches a protected path."""

    def __init__(self, root: Path | str, *, protected: Iterable[Path | str] = (), aliases: Iterable[str] = ()):
        self.configured = os.path.abspath(os.fspath(root))
        self.root = os.path.realpath(self.configured)
        self.aliases = tuple(sorted((os.path.normpath(a) for a in aliases if os.path.isabs(a)), key=len,
                                    reverse=True))
        self.protected = tuple(os.path.realpath(os.fspath(p)) for p in protected)

    # -- resolving -------------------------------------------------------------------------------------------
    def resolve(self, path: object, *, field: str = "path") -> Confined:
        """The confined form of `path` ("" or None is the root). Existence is not checked.

        403 (ForbiddenPathError) for anything that escapes, smuggles or reaches a protected path; 422 for a path
        that is not a string or is too long.
        """
        text = check_text("" if path is None else path, field)
        parts = self._parts(text, field)
        lexical = Path(self.root).joinpath(*parts)
        real = os.path.realpath(lexical)
        # The parent is checked too: move/delete act on the lexical entry, which must sit in a folder inside
        # (data/out -> /tmp plus /tmp/x -> data/models would otherwise let `out/x` touch /tmp/x).
        if not is_within(self.root, real) or (parts and not is_within(self.root, os.path.realpath(lexical.parent))):
            raise ForbiddenPathError(f"{field}: {text!r} resolves outside the data dir", field=field)
        confined = Confined(lexical=lexical, real=Path(real), rel="/".join(parts))
        if self.is_protected(confined):
            raise ForbiddenPathError(f"{field}: {text!r} is reserved for the server", field=field)
        return confined

    def _parts(self, text: str, field: str) -> list[str]:
        if os.path.isabs(text):
            components(text, field)  # refuse '..' before normalising it away
            normal = os.path.normpath(text)
            for base in (*self.aliases, self.root, self.configured):
                if is_within(base, normal):
                    return components(os.path.relpath(normal, base), field)
            raise ForbiddenPathError(f"{field}: {text!r} is outside the data dir", field=field)
        return components(text, field)

    def confine(self, path: object, *, field: str = "path") -> Path:
        """The realpath of `path`, inside the root (see `resolve`)."""
        return self.resolve(path, field=field).real

    # -- protected paths -------------------------------------------------------------------------------------
    def is_protected(self, target: Confined | Path | str) -> bool:
        """True when `target` is a protected path or lies below one (by realpath, case-insensitively, by inode)."""
        if not self.protected:
            return False
        candidates = ([os.fspath(target.real), os.fspath(target.lexical)] if isinstance(target, Confined)
                      else [os.path.realpath(os.fspath(target))])
        for candidate in candidates:
            folded = candidate.casefold()
            if any(is_within(p.casefold(), folded) for p in self.protected):
                return True
        return _same_inode(candidates[0], self.protected)

    def contains_protected(self, target: Confined) -> bool:
        """True when a protected path lies inside the folder `target` (moving or deleting it would reach it)."""
        real = os.fspath(target.real).casefold()
        return any(is_within(real, p.casefold()) for p in self.protected)

    def relative(self, real: Path | str) -> str:
        """The POSIX path of a real path inside the root, relative to it."""
        rel = os.path.relpath(os.fspath(real), self.root)
        return "" if rel == "." else Path(rel).as_posix()


def _same_inode(path: str, protected: tuple[str, ...]) -> bool:
    """A hard link to a protected file (also one inside a protected folder), or a protected name spelled in another
    case on a case-insensitive file system."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    name = os.path.basename(path).casefold()
    if st.st_nlink < 2 and all(os.path.basename(p).casefold() != name for p in protected):
        return False
    return (st.st_dev, st.st_ino) in _protected_inodes(protected)


def _protected_inodes(protected: tuple[str, ...]) -> set[tuple[int, int]]:
    found = set()
    for top in protected:
        paths = [top]
        if os.path.isdir(top):
            paths += [os.path.join(d, f) for d, _, files in os.walk(top) for f in files]
        for p in paths:
            try:
                st = os.stat(p)
            except OSError:
                continue
            found.add((st.st_dev, st.st_ino))
    return found


def make_dirs(path: Path | str, guard: PathGuard, *, field: str = "path") -> Path:
    """Create the folder `path` (inside the guard's root) and its missing parents; returns its realpath.

    Checked first on the resolved path (nothing is created for a path that escapes), then created one level at
    a time from the root with O_NOFOLLOW, so a component that turns into a symlink meanwhile is refused (403).
    """
    real = os.path.realpath(os.fspath(path))
    if not is_within(guard.root, real):
        raise ForbiddenPathError(f"{field}: {os.fspath(path)!r} resolves outside the data dir", field=field)
    if guard.is_protected(real):
        raise ForbiddenPathError(f"{field}: {os.fspath(path)!r} is reserved for the server", field=field)
    parts = [check_name(p, field) for p in Path(os.path.relpath(real, guard.root)).parts if p != "."]
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    fd = os.open(guard.root, flags)
    try:
        for part in parts:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                child = os.open(part, flags | getattr(os, "O_NOFOLLOW", 0), dir_fd=fd)
            except OSError as exc:
                raise ForbiddenPathError(f"{field}: {part!r} in {os.fspath(path)!r} is a symlink or not a folder",
                                         field=field) from exc
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    return Path(real)


def write_new_file(path: Path, data: bytes) -> None:
    """Write `data` to a new file; never follows a symlink and never overwrites."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
