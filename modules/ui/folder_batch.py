"""Batches from a folder of the data dir (img2img "Batch", Extras "Batch from Directory"): the folders are
confined to the data dir (modules/path_guard.py: `..`, absolute paths outside and symlinks out are refused), every
image is submitted on its own through the request pipeline, and the results are copied to the output folder
under their input's name."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
from PIL import Image

from modules.errors import EaselError
from modules.path_guard import PathGuard, make_dirs
from modules.paths import private_paths

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_BATCH_FILES = 1000


def _guard(services) -> PathGuard:
    return PathGuard(services.paths.data_dir, protected=private_paths(services.paths.data_dir))


def input_images(services, folder: str, field: str) -> list[Path]:
    """The image files of a data-dir folder, by name; gr.Error naming the field for a bad folder."""
    if not (folder or "").strip():
        raise gr.Error(f"{field}: give a folder inside the data dir")
    try:
        resolved = _guard(services).resolve(folder.strip(), field=field)
    except EaselError as e:
        raise gr.Error(e.message) from e
    if not resolved.real.is_dir():
        raise gr.Error(f"{field}: {resolved.rel or '/'} is not a folder of the data dir")
    files = sorted(p for p in resolved.real.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise gr.Error(f"{field}: no images in {resolved.rel or '/'}")
    if len(files) > MAX_BATCH_FILES:
        raise gr.Error(f"{field}: {len(files)} images; a batch takes at most {MAX_BATCH_FILES}")
    return files


def output_folder(services, folder: str, field: str) -> Path | None:
    """The confined output folder (created), or None when not given."""
    if not (folder or "").strip():
        return None
    guard = _guard(services)
    try:
        return make_dirs(guard.confine(folder.strip(), field=field), guard, field=field)
    except EaselError as e:
        raise gr.Error(e.message) from e


def mask_for(services, folder: str, image: Path) -> Image.Image | None:
    """The mask with the image's name (any image extension) in the mask folder, if any."""
    if not (folder or "").strip():
        return None
    for path in input_images(services, folder, "inpaint batch mask directory"):
        if path.stem == image.stem:
            return Image.open(path).convert("L")
    return None


def open_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except OSError as e:
        raise gr.Error(f"{path.name}: not a readable image ({e})") from e


def copy_results(services, keys: list[str], folder: Path | None, stem: str, first: int = 0) -> list[str]:
    """Write the stored result images (from `first` on: no grid) to `folder` as `<stem>.<ext>`, `<stem>-1.<ext>`..."""
    if folder is None:
        return []
    written = []
    for n, key in enumerate(keys[first:]):
        ext = key.rsplit(".", 1)[-1]
        target = folder / (f"{stem}.{ext}" if n == 0 else f"{stem}-{n}.{ext}")
        target.write_bytes(services.storage.read(key))
        written.append(str(target))
    return written
