"""save_dir confinement: the one place a managed-service save_dir becomes a filesystem directory.

Rules (docs/eas.md): a relative save_dir lies under the data dir; an absolute one must start with one of the
mount prefixes (the managed service's storage mount path, which stands for the data dir) or lie inside the
data dir itself. `..` components, NUL bytes and backslashes are refused outright, and the realpath of the
result (symlinks followed) must stay inside the realpath of the data dir. A `uid` adds one more folder level.
Refusals are 403 (422 for a value that is not a usable string), raised before anything is generated or written.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from eas_lib.errors import bad_request, forbidden

MAX_PATH_CHARS = 1024
UID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


@dataclass(frozen=True)
class SaveTarget:
    """real: the directory to write into (realpath, inside the data dir; may not exist yet).
    shown: the same directory in the caller's own spelling, the base of every `image_url` entry."""

    real: Path
    shown: str
    root: Path


def is_within(root: str, candidate: str) -> bool:
    """True when `candidate` is `root` or below it (absolute, normalised paths; separator-safe)."""
    return candidate == root or candidate.startswith(root.rstrip(os.sep) + os.sep)


def check_uid(uid: object) -> str:
    """The uid as a single safe folder name (422 otherwise)."""
    text = str(uid) if isinstance(uid, (str, int)) and not isinstance(uid, bool) else None
    if text is None or not UID_PATTERN.match(text):
        raise bad_request(f"uid: expected 1-64 letters, digits or _.@- (not starting with a symbol), got {uid!r}",
                          field="uid")
    return text


def _split(path: str, field: str) -> list[str]:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise forbidden(f"{field}: '..' is not allowed in save_dir", field=field)
    return parts


def resolve_save_dir(save_dir: object, uid: str | None, data_dir: Path, mount_prefixes: tuple[str, ...],
                     *, field: str = "save_dir") -> SaveTarget:
    """The confined target of `save_dir` (+ `uid`). Raises EasError 403/422; never touches the disk."""
    if not isinstance(save_dir, str) or not save_dir.strip():
        raise bad_request(f"{field}: expected a non-empty path string, got {save_dir!r}", field=field)
    if len(save_dir) > MAX_PATH_CHARS:
        raise bad_request(f"{field}: longer than {MAX_PATH_CHARS} characters", field=field)
    if "\x00" in save_dir or "\\" in save_dir:
        raise forbidden(f"{field}: NUL bytes and backslashes are not allowed", field=field)
    configured = os.path.abspath(os.fspath(data_dir))
    root = os.path.realpath(configured)
    text = save_dir.strip()
    if os.path.isabs(text):
        _split(text, field)  # refuse '..' before normalising it away
        normal = os.path.normpath(text)
        bases = sorted(mount_prefixes, key=len, reverse=True) + [configured, root]
        base = next((b for b in bases if is_within(os.path.normpath(b), normal)), None)
        if base is None:
            raise forbidden(f"{field}: {save_dir!r} is outside the data dir (allowed: a path relative to the data dir, "
                            f"or one under {', '.join(mount_prefixes + (configured,))})", field=field)
        parts = _split(os.path.relpath(normal, os.path.normpath(base)), field)
        shown = normal
    else:
        parts = _split(text, field)
        shown = "/".join(parts) or "."
    if uid:
        parts.append(uid)
        shown = f"{shown.rstrip('/')}/{uid}"
    real = os.path.realpath(os.path.join(root, *parts))
    if not is_within(root, real):
        raise forbidden(f"{field}: {save_dir!r} resolves outside the data dir (through a symlink)", field=field)
    return SaveTarget(real=Path(real), shown=shown, root=Path(root))


def make_output_dir(target: SaveTarget, *parts: str) -> Path:
    """Create `target.real/<parts>` and check again (after mkdir) that its realpath is still inside the root."""
    path = target.real.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    real = os.path.realpath(path)
    if not is_within(os.fspath(target.root), real):
        raise forbidden("save_dir: the output folder resolves outside the data dir (through a symlink)",
                        field="save_dir")
    return Path(real)


def write_new_file(path: Path, data: bytes) -> None:
    """Write `data` to a new file; never follows a symlink and never overwrites."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
