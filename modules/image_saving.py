"""Where the A1111 outputs folders are: `outdir_*` options (relative to the data dir) and `save_to_dirs`.

The files themselves are written by modules/generation/outputs.py through the storage interface.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from modules.path_guard import PathGuard, make_dirs
from modules.paths import private_paths

_OUTDIR_OPTION = {"txt2img": "outdir_txt2img_samples", "img2img": "outdir_img2img_samples",
                  "extras": "outdir_extras_samples"}


def samples_folder(options: Any, data_dir: Path, mode: str, *, create: bool = True) -> Path:
    """The folder for `mode`'s images from the options (`outdir_*`, `save_to_dirs`), created inside the data dir
    (unless `create` is false: the files go to an object store, docs/storage.md).

    The option was confined when it was set; it is checked again here, where it is used, and the folder is made
    only after that check, on the resolved path (modules/path_guard.py): ForbiddenPathError naming the option.
    """
    key = "outdir_samples" if options.get("outdir_samples") else _OUTDIR_OPTION.get(mode, "outdir_txt2img_samples")
    guard = PathGuard(data_dir, protected=private_paths(data_dir))
    folder = guard.confine(options.get(key), field=key)
    if options.get("save_to_dirs"):
        folder = guard.confine(f"{folder}/{time.strftime('%Y-%m-%d')}", field=key)
    return make_dirs(folder, guard, field=key) if create else folder
