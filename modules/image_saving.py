"""Where the A1111 outputs folders are: `outdir_*` options (relative to the data dir), `save_to_dirs` and the
directory name pattern (`directories_filename_pattern`, "[date]" by default).

The files themselves are written by modules/generation/outputs.py through the storage interface.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from modules.path_guard import PathGuard, make_dirs
from modules.paths import private_paths

_OUTDIR_OPTION = {"txt2img": "outdir_txt2img_samples", "img2img": "outdir_img2img_samples",
                  "extras": "outdir_extras_samples"}
_GRID_OPTION = {"txt2img": "outdir_txt2img_grids", "img2img": "outdir_img2img_grids"}
_HASH_IN_TITLE = re.compile(r"\[([0-9a-f]{8,10})\]\s*$")


def model_of(p: Any) -> tuple[str, str]:
    """(model name, short hash) of the request's checkpoint title ("sub/name.safetensors [abcdef0123]")."""
    title = getattr(p, "sd_model_checkpoint", None) or ""
    match = _HASH_IN_TITLE.search(title)
    name = title[:match.start()].strip() if match else title.strip()
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0] if name else ""
    return stem, match.group(1) if match else ""


def samples_folder(options: Any, data_dir: Path, mode: str, p: Any = None, *, grid: bool = False,
                   create: bool = True) -> Path:
    """The folder for `mode`'s images (`grid`: its grids) from the options, created inside the data dir
    (unless `create` is false: the files go to an object store, docs/storage.md).

    The option was confined when it was set; it is checked again here, where it is used, and the folder is made
    only after that check, on the resolved path (modules/path_guard.py): ForbiddenPathError naming the option.
    """
    if grid:
        key = "outdir_grids" if options.get("outdir_grids") else _GRID_OPTION.get(mode, "outdir_txt2img_grids")
    else:
        key = "outdir_samples" if options.get("outdir_samples") else _OUTDIR_OPTION.get(mode, "outdir_txt2img_samples")
    guard = PathGuard(data_dir, protected=private_paths(data_dir))
    folder = guard.confine(options.get(key), field=key)
    if options.get("grid_save_to_dirs" if grid else "save_to_dirs"):
        from modules.generation.filenames import apply_pattern, context_for

        name, shorthash = model_of(p)
        ctx = context_for(p, 0, (getattr(p, "all_seeds", None) or [None])[0], model_name=name, model_hash=shorthash)
        sub = apply_pattern(options.get("directories_filename_pattern") or "[date]", ctx) or time.strftime("%Y-%m-%d")
        folder = guard.confine(f"{folder}/{sub}", field="directories_filename_pattern")
    return make_dirs(folder, guard, field=key) if create else folder
