"""Result images, encoded once and written through the Storage interface only.

A task's results go to the result storage as `tasks/<task id>/<NNNNN>.<ext>`; with samples saving on (API
`save_images`, WebUI jobs) each image of a generation also goes to the A1111 outputs folders
(`<outdir>/<YYYY-MM-DD>/<NNNNN>-<seed>.<ext>`, the next free number, infotext embedded) through the image-saved
extension callbacks; `files` is a storage rooted at the data dir, or with `--storage-url oss://` / `s3://` the
object store itself (modules/storage/data_dir.py: the outputs folder is the store's root). An image is encoded
once per format and infotext: the copies share the bytes unless a callback changed the picture or its text.
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from modules import images as image_utils
from modules import script_callbacks
from modules.errors import ConflictError, EaselError
from modules.generation.request import GenerationResult
from modules.image_saving import samples_folder
from modules.script_callbacks import ImageSaveParams
from modules.storage.base import Storage

logger = logging.getLogger(__name__)


def extension(fmt: str) -> str:
    return "jpg" if fmt.lower() == "jpeg" else fmt.lower()


class ResultWriter:
    """`results`: the task result storage; `files`: the data dir's files, data-dir-relative keys (the outputs
    folders: local disk, or the object store through a DataDirStore)."""

    def __init__(self, results: Storage, files: Storage, options: Any, data_dir: Path):
        self.results = results
        self.files = files
        self.options = options
        self.data_dir = data_dir
        # id(image) -> (text, fmt, bytes), dropped when the image is (PIL images are not hashable)
        self._encoded: dict[int, tuple[str | None, str, bytes]] = {}
        self._lock = threading.Lock()

    def encode(self, image: Image.Image, infotext: str | None, fmt: str) -> bytes:
        """The image's bytes in `fmt` with `infotext` (when enable_pnginfo), encoded at most once."""
        text = infotext if self.options.get("enable_pnginfo") else None
        with self._lock:
            cached = self._encoded.get(id(image))
        if cached is not None and cached[0] == text and cached[1] == fmt:
            return cached[2]
        data = image_utils.encode_image(image, fmt=fmt, infotext=text, jpeg_quality=int(self.options.get("jpeg_quality")),
                                        webp_lossless=bool(self.options.get("webp_lossless")))
        with self._lock:
            if id(image) not in self._encoded:
                weakref.finalize(image, self._forget, id(image))
            self._encoded[id(image)] = (text, fmt, data)
        return data

    def _forget(self, key: int) -> None:
        with self._lock:
            self._encoded.pop(key, None)

    def store_results(self, task_id: str, images: list[Image.Image], infotexts: Sequence[str | None],
                      fmt: str) -> list[str]:
        """Write a task's result images; returns their keys (the same keys on a re-run: writes are idempotent)."""
        ext = extension(fmt)
        keys = []
        for i, image in enumerate(images):
            text = infotexts[i] if i < len(infotexts) else None
            keys.append(self.results.write(f"tasks/{task_id}/{i:05d}.{ext}", self.encode(image, text, fmt)))
        return keys

    def save_samples(self, mode: str, result: GenerationResult, p: Any = None) -> list[str]:
        """Write a generation's images (not its grid) to the A1111 outputs folder of `mode`; returns the keys."""
        first = result.index_of_first_image
        return self.save_to_folder(self.samples_folder(mode, p), result.images[first:], result.infotexts[first:],
                                   result.seeds, result.samples_format, p)

    def save_grid(self, mode: str, grid: Image.Image, infotext: str | None, p: Any = None) -> list[str]:
        """Write a batch grid to the grids folder of `mode` as `grid-NNNN.<grid_format>` (A1111's name)."""
        seed = (getattr(p, "all_seeds", None) or [0])[0]
        return self.save_to_folder(self.samples_folder(mode, p, grid=True), [grid], [infotext], [seed],
                                   self.options.get("grid_format"), p, basename="grid")

    def samples_folder(self, mode: str, p: Any = None, *, grid: bool = False) -> Path:
        """The outputs folder of `mode` (created on local disk only; object stores have no folders)."""
        return samples_folder(self.options, self.data_dir, mode, p, grid=grid, create=not self.files.is_object_store)

    def save_to_folder(self, folder: Path, images: list[Image.Image], infotexts: Sequence[str | None],
                       seeds: list[int], fmt: str, p: Any = None, *, basename: str = "") -> list[str]:
        """Each image as `NNNNN-<pattern>.<ext>` (`samples_filename_pattern`, "[seed]" when empty; the number only
        with `save_images_add_number` or an empty pattern), or `<basename>-NNNN.<ext>` (grids)."""
        prefix = self._key_of(folder)
        ext = extension(fmt)
        keys = []
        number = self._next_number(prefix, basename)
        name_of = self._namer(p, basename)
        for i, image in enumerate(images):
            seed = seeds[i] if i < len(seeds) else 0
            text = infotexts[i] if i < len(infotexts) else None
            numbered, stem = name_of(i, seed)
            while True:
                if basename:
                    name = f"{basename}-{number:04d}"
                elif numbered:
                    name = f"{number:05d}-{stem}" if stem else f"{number:05d}"
                else:
                    name = stem
                key = f"{prefix}/{name}.{ext}" if prefix else f"{name}.{ext}"
                params = ImageSaveParams(image, p, self.files.reference(key), {"parameters": text} if text else {})
                script_callbacks.before_image_saved_callback(params)
                key = self._callback_key(params.filename, key)
                try:
                    self.files.write_new(key, self._bytes_after_callbacks(params, image, text, fmt))
                    break
                except ConflictError:  # the name is taken (or was just taken by another writer): number it
                    if numbered or basename:
                        number += 1
                    numbered = True
            number += 1
            keys.append(key)
            script_callbacks.image_saved_callback(params)
        return keys

    def _namer(self, p: Any, basename: str):
        """(numbered, decoration) of image i: the filename pattern applied (A1111 `FilenameGenerator`)."""
        from modules.generation.filenames import apply_pattern, context_for
        from modules.image_saving import model_of

        pattern = "" if basename else (self.options.get("samples_filename_pattern") or "")
        add_number = bool(self.options.get("save_images_add_number")) or not pattern
        name, shorthash = model_of(p)

        def name_of(i: int, seed: int) -> tuple[bool, str]:
            if basename:
                return True, ""
            ctx = context_for(p, i, seed, model_name=name, model_hash=shorthash)
            stem = apply_pattern(pattern or "[seed]", ctx)
            return add_number or not stem, stem

        return name_of

    def _bytes_after_callbacks(self, params: ImageSaveParams, image: Image.Image, text: str | None, fmt: str) -> bytes:
        items = {k: v for k, v in params.pnginfo.items() if k != "parameters" and isinstance(v, str)}
        given = params.pnginfo.get("parameters")
        if params.image is image and not items and given == text:
            return self.encode(image, text, fmt)
        return image_utils.encode_image(params.image, fmt=fmt, infotext=given, text=items,
                                        jpeg_quality=int(self.options.get("jpeg_quality")),
                                        webp_lossless=bool(self.options.get("webp_lossless")))

    def _key_of(self, folder: Path) -> str:
        key = self.files.key_for(str(folder))
        if key is None:
            raise EaselError(f"the outputs folder {folder} is not inside the data dir")
        return key

    def _callback_key(self, filename: str, original: str) -> str:
        """A callback may rename the file (A1111 habit); a name outside the data dir is refused and logged."""
        if filename == self.files.reference(original):
            return original
        key = self.files.key_for(filename)
        if key is None:
            logger.error("an image-saved callback moved %s outside the data dir (%s); kept the original name",
                         original, filename)
            return original
        return key

    def _next_number(self, prefix: str, basename: str = "") -> int:
        names = (info.key.rsplit("/", 1)[-1] for info in self.files.list(prefix))
        if basename:
            start = len(basename) + 1
            numbers = [int(n[start:start + 4]) for n in names if n.startswith(f"{basename}-")
                       and n[start:start + 4].isdigit()]
        else:
            numbers = [int(name[:5]) for name in names if name[:5].isdigit()]
        return max(numbers, default=-1) + 1
