"""Result images, encoded once and written through the Storage interface only.

A task's results go to the result storage as `tasks/<task id>/<NNNNN>.<ext>`; with samples saving on (API
`save_images`, WebUI jobs) each image of a generation also goes to the A1111 outputs folders
(`<outdir>/<YYYY-MM-DD>/<NNNNN>-<seed>.<ext>`, the next free number, infotext embedded) through the image-saved
extension callbacks. An image is encoded once per format and infotext: the copies share the bytes unless a
callback changed the picture or its text.
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
    """`results`: the task result storage; `files`: a storage rooted at the data dir (the outputs folders)."""

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
        """Write a generation's images to the A1111 outputs folder of `mode`; returns the keys written."""
        folder = samples_folder(self.options, self.data_dir, mode)
        return self.save_to_folder(folder, result.images, result.infotexts, result.seeds, result.samples_format, p)

    def save_to_folder(self, folder: Path, images: list[Image.Image], infotexts: Sequence[str | None],
                       seeds: list[int], fmt: str, p: Any = None) -> list[str]:
        prefix = self._key_of(folder)
        ext = extension(fmt)
        keys = []
        number = self._next_number(prefix)
        for i, image in enumerate(images):
            seed = seeds[i] if i < len(seeds) else 0
            text = infotexts[i] if i < len(infotexts) else None
            while True:
                key = f"{prefix}/{number:05d}-{seed}.{ext}" if prefix else f"{number:05d}-{seed}.{ext}"
                params = ImageSaveParams(image, p, self.files.reference(key), {"parameters": text} if text else {})
                script_callbacks.before_image_saved_callback(params)
                key = self._callback_key(params.filename, key)
                try:
                    self.files.write_new(key, self._bytes_after_callbacks(params, image, text, fmt))
                    break
                except ConflictError:  # another writer took the number meanwhile
                    number += 1
            number += 1
            keys.append(key)
            script_callbacks.image_saved_callback(params)
        return keys

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

    def _next_number(self, prefix: str) -> int:
        names = (info.key.rsplit("/", 1)[-1] for info in self.files.list(prefix))
        numbers = [int(name[:5]) for name in names if name[:5].isdigit()]
        return max(numbers, default=-1) + 1
