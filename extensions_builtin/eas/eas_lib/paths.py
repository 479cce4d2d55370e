"""save_dir confinement: the one place a managed-service save_dir becomes a filesystem directory.

Rules (docs/eas.md): a relative save_dir lies under the data dir; an absolute one must start with one of the
mount prefixes (the managed service's storage mount path, which stands for the data dir) or lie inside the
data dir itself. The checks are the core path guard's (modules/path_guard.py): `..` components, NUL bytes and
backslashes are refused outright, names are length-checked, the realpath of the result (symlinks followed) must
stay inside the realpath of the data dir, and the server's private files are out of reach. A `uid` adds one more
folder level. Refusals are 403 (422 for a value that is not a usable string), raised before anything is generated
or written; output folders are created only after the check, on the resolved path.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from eas_lib.errors import EasError, bad_request, forbidden
from modules import path_guard
from modules.errors import EaselError
from modules.paths import private_paths

MAX_PATH_CHARS = 1024
UID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
write_new_file = path_guard.write_new_file
is_within = path_guard.is_within


@dataclass(frozen=True)
class SaveTarget:
    """real: the directory to write into (realpath, inside the data dir; may not exist yet).
    shown: the same directory in the caller's own spelling, the base of every `image_url` entry."""

    real: Path
    shown: str
    guard: path_guard.PathGuard

    @property
    def root(self) -> Path:
        return Path(self.guard.root)


def check_uid(uid: object) -> str:
    """The uid as a single safe folder name (422 otherwise)."""
    text = str(uid) if isinstance(uid, (str, int)) and not isinstance(uid, bool) else None
    if text is None or not UID_PATTERN.match(text) or set(text) == {"."}:
        raise bad_request(f"uid: expected 1-64 letters, digits or _.@- (not starting with a symbol), got {uid!r}",
                          field="uid")
    return text


def _eas_error(exc: EaselError, field: str) -> EasError:
    return EasError(exc.status_code, exc.message, field=field)


def resolve_save_dir(save_dir: object, uid: str | None, data_dir: Path, mount_prefixes: tuple[str, ...],
                     *, field: str = "save_dir") -> SaveTarget:
    """The confined target of `save_dir` (+ `uid`). Raises EasError 403/422; never touches the disk."""
    if not isinstance(save_dir, str) or not save_dir.strip():
        raise bad_request(f"{field}: expected a non-empty path string, got {save_dir!r}", field=field)
    if len(save_dir) > MAX_PATH_CHARS:
        raise bad_request(f"{field}: longer than {MAX_PATH_CHARS} characters", field=field)
    guard = path_guard.PathGuard(data_dir, protected=private_paths(data_dir), aliases=mount_prefixes)
    text = save_dir.strip()
    try:
        confined = guard.resolve(f"{text.rstrip('/')}/{uid}" if uid else text, field=field)
    except EaselError as exc:
        if exc.status_code == 403 and "outside the data dir" in exc.message and os.path.isabs(text):
            raise forbidden(f"{field}: {save_dir!r} is outside the data dir (allowed: a path relative to the data "
                            f"dir, or one under {', '.join(mount_prefixes + (guard.configured,))})",
                            field=field) from exc
        raise _eas_error(exc, field) from exc
    if os.path.isabs(text):
        shown = os.path.normpath(text)
    else:
        shown = "/".join(p for p in text.split("/") if p not in ("", ".")) or "."
    if uid:
        shown = f"{shown.rstrip('/')}/{uid}"
    return SaveTarget(real=confined.real, shown=shown, guard=guard)


def make_output_dir(target: SaveTarget, *parts: str) -> Path:
    """Create `target.real/<parts>`: checked first on the resolved path, created after (never through a symlink)."""
    try:
        return path_guard.make_dirs(target.real.joinpath(*parts), target.guard, field="save_dir")
    except EaselError as exc:
        raise _eas_error(exc, "save_dir") from exc
