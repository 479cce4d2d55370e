"""FileBrowser settings, built once when the app starts (from `modules.shared` in the extension, by hand in tests)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.paths import SERVER_FILES, private_paths

API_PREFIX = "/filebrowser/api"
DEFAULT_UPLOAD_EXPIRY_S = 24 * 3600


@dataclass(frozen=True)
class FileBrowserConfig:
    """Everything the routes need.

    data_dir: the root every user path is confined to.
    readonly: refuse every write route with 403 (`--filebrowser-readonly`).
    on_models_changed: called (in a worker thread) after a write under `models/`, to refresh model lists.
    hash_cache_file: the model registry's sha256 cache; `info` on a file under `models/` reuses it.
    max_upload_size: advertised as Tus-Max-Size and enforced on creation; None = limited by free disk only.
    upload_expiry_s: an unfinished (or finished, for its /result) upload is removed this long after its last write.
    protected: the server's private files, out of every route's reach (None: the data dir's defaults).
    server_files: the server's settings files, writable only with `allow_config` (None: the data dir's defaults).
    allow_config: `--filebrowser-allow-config`.
    store: the object store of the outputs (`--storage-url oss://` / `s3://`: a modules.storage Storage), listed
      and downloaded read-only under /store/...; None with local storage (the outputs are in the data dir).
    in_use: () -> {real path: why it matters ("the selected checkpoint")}: listed with the entry, so the browser
        can warn before such a file is deleted or moved (the server then falls back to another checkpoint).
    """

    data_dir: Path
    readonly: bool = False
    on_models_changed: Callable[[], None] | None = None
    hash_cache_file: Path | None = None
    max_upload_size: int | None = None
    upload_expiry_s: float = DEFAULT_UPLOAD_EXPIRY_S
    protected: tuple[Path, ...] | None = None
    server_files: tuple[Path, ...] | None = None
    allow_config: bool = False
    store: Any = None
    in_use: Callable[[], dict[str, str]] | None = None

    @property
    def protected_paths(self) -> tuple[Path, ...]:
        return self.protected if self.protected is not None else private_paths(self.data_dir)

    @property
    def server_file_paths(self) -> tuple[Path, ...]:
        if self.server_files is not None:
            return self.server_files
        return tuple(Path(self.data_dir) / name for name in SERVER_FILES)

    @property
    def upload_dir(self) -> Path:
        """Where tus part files and their JSON sidecars live (inside the data dir, so they survive restarts)."""
        return Path(self.data_dir) / "cache" / "uploads"
