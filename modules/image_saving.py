"""Writing result images to the outputs folders, A1111 style, with the image-saved extension callbacks.

Files are `<outdir>/<YYYY-MM-DD>/<NNNNN>-<seed>.<ext>` (the next free number in the folder), the infotext
embedded (PNG text chunk or EXIF UserComment). `on_before_image_saved` callbacks may change the image, the
file name or the text items before the file is written; `on_image_saved` callbacks run after.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from PIL import Image

from modules import images as image_utils
from modules import script_callbacks
from modules.path_guard import PathGuard, make_dirs
from modules.paths import private_paths
from modules.script_callbacks import ImageSaveParams

_OUTDIR_OPTION = {"txt2img": "outdir_txt2img_samples", "img2img": "outdir_img2img_samples",
                  "extras": "outdir_extras_samples"}
_counter_lock = threading.Lock()


def samples_folder(options, data_dir: Path, mode: str) -> Path:
    """The folder for `mode`'s images from the options (`outdir_*`, `save_to_dirs`), created inside the data dir.

    The option was confined when it was set; it is checked again here, where it is used, and the folder is made
    only after that check, on the resolved path (modules/path_guard.py): ForbiddenPathError naming the option.
    """
    key = "outdir_samples" if options.get("outdir_samples") else _OUTDIR_OPTION.get(mode, "outdir_txt2img_samples")
    guard = PathGuard(data_dir, protected=private_paths(data_dir))
    folder = guard.confine(options.get(key), field=key)
    if options.get("save_to_dirs"):
        folder = guard.confine(f"{folder}/{time.strftime('%Y-%m-%d')}", field=key)
    return make_dirs(folder, guard, field=key)


def save_images(folder: Path, images: list[Image.Image], infotexts: list[str | None], seeds: list[int], *,
                fmt: str, options, p: Any = None, callbacks: bool = True) -> list[Path]:
    """Write `images` into `folder` with their infotexts; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    ext = "jpg" if fmt == "jpeg" else fmt
    paths = []
    with _counter_lock:
        numbers = [int(f.name[:5]) for f in folder.iterdir() if f.name[:5].isdigit()]
        number = max(numbers, default=-1) + 1
        for i, image in enumerate(images):
            seed = seeds[i] if i < len(seeds) else 0
            text = infotexts[i] if i < len(infotexts) else None
            params = ImageSaveParams(image, p, str(folder / f"{number + i:05d}-{seed}.{ext}"),
                                     {"parameters": text} if text else {})
            if callbacks:
                script_callbacks.before_image_saved_callback(params)
            items = {k: v for k, v in params.pnginfo.items() if k != "parameters" and isinstance(v, str)}
            data = image_utils.encode_image(params.image, fmt=fmt, infotext=params.pnginfo.get("parameters"),
                                            text=items, jpeg_quality=int(options.get("jpeg_quality")),
                                            webp_lossless=bool(options.get("webp_lossless")))
            Path(params.filename).write_bytes(data)
            paths.append(Path(params.filename))
            if callbacks:
                script_callbacks.image_saved_callback(params)
    return paths
