"""Where the A1111 outputs folders are: `outdir_*` options (relative to the data dir) and `save_to_dirs`.

The files themselves are written by modules/generation/outputs.py through the storage interface.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

_OUTDIR_OPTION = {"txt2img": "outdir_txt2img_samples", "img2img": "outdir_img2img_samples",
                  "extras": "outdir_extras_samples"}


def samples_folder(options: Any, data_dir: Path, mode: str) -> Path:
    """The folder for `mode`'s images from the options (`outdir_*`, `save_to_dirs`), under the data dir."""
    configured = options.get("outdir_samples") or options.get(_OUTDIR_OPTION.get(mode, "outdir_txt2img_samples"))
    folder = Path(configured)
    if not folder.is_absolute():
        folder = data_dir / folder
    if options.get("save_to_dirs"):
        folder = folder / time.strftime("%Y-%m-%d")
    return folder
