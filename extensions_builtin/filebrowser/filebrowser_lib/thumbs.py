"""Thumbnails of PNG/JPEG/WebP/GIF images: small JPEG (opaque) or PNG (with alpha)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps

from modules.errors import InvalidRequestError

from .listing import open_image

MIN_SIZE, MAX_SIZE = 16, 1024


def make_thumbnail(path: Path | BinaryIO, size: int) -> tuple[bytes, str]:
    """(bytes, media type) of a thumbnail fitting in size x size. The pixel limit is checked on the header,
    before any decode; JPEG sources are decoded at reduced scale (`draft`)."""
    with open_image(path) as image:
        try:
            image.draft("RGB", (size, size))
            image = ImageOps.exif_transpose(image)
            image.thumbnail((size, size), Image.Resampling.LANCZOS)
        except OSError as exc:
            raise InvalidRequestError(f"path: image data is damaged ({exc})", field="path") from exc
        has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
        buffer = io.BytesIO()
        if has_alpha:
            image.convert("RGBA").save(buffer, format="PNG", optimize=True)
            return buffer.getvalue(), "image/png"
        image.convert("RGB").save(buffer, format="JPEG", quality=85)
        return buffer.getvalue(), "image/jpeg"
