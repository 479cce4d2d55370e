"""Image I/O for the API: base64 decoding with a pixel limit, encoding with infotext metadata, grids and resizing.

Metadata layout follows A1111 (docs: /work/shared/ref/a1111-api.md §1, §6): PNG keeps text items as tEXt/iTXt chunks
(infotext under "parameters", extras info under "postprocessing"); JPEG and WebP carry the infotext in the EXIF
UserComment (Exif IFD tag 0x9286, type UNDEFINED, "UNICODE\\0" + UTF-16-BE, as piexif's
`UserComment.dump(encoding="unicode")` writes it).
"""
from __future__ import annotations

import base64
import binascii
import io
import math
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageColor, ImageOps, PngImagePlugin

from modules import upscalers
from modules.errors import InvalidRequestError

LANCZOS = Image.Resampling.LANCZOS

EXIF_IFD_POINTER = 0x8769
EXIF_USER_COMMENT = 0x9286
_UC_PREFIXES = {
    b"ASCII\x00\x00\x00": "ascii",
    b"JIS\x00\x00\x00\x00\x00": "shift_jis",
    b"UNICODE\x00": "utf_16_be",
    b"\x00" * 8: "ascii",
}
IGNORED_INFO_KEYS = frozenset({
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "exif", "loop", "background", "timestamp",
    "duration", "progressive", "progression", "icc_profile", "chromaticity", "photoshop",
})
"""Image.info keys that are format details, not generation info (A1111 images.IGNORED_INFO_KEYS)."""

_DATA_URL = re.compile(r"^data:[^,]*?;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_JPEG_MAX_EXIF = 65533  # one APP1 segment
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16", "I;16B"})


def decode_base64_image(data: str, *, field: str, max_pixels: int) -> Image.Image:
    """Decodes an API image input: raw base64 or a `data:image/...;base64,` URL.

    The header is read first and an image of more than `max_pixels` pixels is refused before any pixel data is
    decoded (so are images over Pillow's own decompression-bomb limit). Like A1111 1.10's `images.read`, EXIF
    orientation is applied and a P/RGB image with a tRNS transparency chunk becomes RGBA; otherwise the mode is kept
    (L, LA, RGB, RGBA, P, CMYK, I;16 ...): callers convert (init images to RGB, masks to L).

    Raises InvalidRequestError(field=field) for broken base64, data that is not an image, and images too large.
    """
    invalid = InvalidRequestError(f"{field}: not a valid base64-encoded image", field=field)
    if not isinstance(data, str):
        raise invalid
    payload = _WHITESPACE.sub("", _DATA_URL.sub("", data.strip(), count=1))
    payload += "=" * (-len(payload) % 4 if len(payload) % 4 != 1 else 0)
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as e:
        raise invalid from e
    if not raw:
        raise invalid

    try:
        image = Image.open(io.BytesIO(raw))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InvalidRequestError(f"{field}: image too large ({e})", field=field) from e
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise invalid from e

    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise InvalidRequestError(
            f"{field}: image too large ({width}x{height} = {width * height} pixels; the limit is {max_pixels})",
            field=field,
        )
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError) as e:
        raise invalid from e
    return _fix_image(image)


def _fix_image(image: Image.Image) -> Image.Image:
    """EXIF orientation and tRNS transparency, as A1111's fix_image; broken EXIF leaves the image as is."""
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except (SyntaxError, ValueError, OSError, TypeError, struct.error, KeyError):
        pass
    if image.mode in ("RGB", "P") and isinstance(image.info.get("transparency"), bytes):
        image = image.convert("RGBA")
    return image


def _user_comment_exif(comment: str) -> bytes:
    """Minimal big-endian EXIF block ("Exif\\0\\0" + TIFF) holding only the UserComment, as piexif.dump writes it."""
    value = b"UNICODE\x00" + comment.encode("utf_16_be", errors="replace")  # >= 8 bytes: never inline
    # Header (8) + IFD0 with one entry (2 + 12 + 4) -> Exif IFD at 26; its one entry -> value at 26 + 18 = 44.
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHII", EXIF_IFD_POINTER, 4, 1, 26) + struct.pack(">I", 0)
    tiff += struct.pack(">H", 1) + struct.pack(">HHII", EXIF_USER_COMMENT, 7, len(value), 44) + struct.pack(">I", 0)
    return b"Exif\x00\x00" + tiff + value


def encode_image(
    image: Image.Image,
    *,
    fmt: str = "png",
    infotext: str | None = None,
    jpeg_quality: int = 80,
    webp_lossless: bool = False,
    text: Mapping[str, str] | None = None,
) -> bytes:
    """Encodes an image for the API (A1111 encode_pil_to_base64). Same input, same bytes (no timestamps).

    png: every str item of `image.info`, then `text`, then `infotext` as "parameters", become text chunks.
    jpg/jpeg/webp: RGBA (and other non-RGB modes) become RGB; the infotext (`infotext`, else
    `image.info["parameters"]`) goes to the EXIF UserComment (always written, empty when there is none, like
    A1111; dropped for JPEG when it does not fit the 64 KiB EXIF segment). `jpeg_quality` applies to JPEG and lossy
    WebP. Any other format raises InvalidRequestError(field="samples_format").
    """
    fmt_l = fmt.lower()
    out = io.BytesIO()
    if fmt_l == "png":
        items = {k: v for k, v in image.info.items() if isinstance(k, str) and isinstance(v, str)}
        items.update(text or {})
        if infotext is not None:
            items["parameters"] = infotext
        pnginfo = None
        if items:
            pnginfo = PngImagePlugin.PngInfo()
            for key, value in items.items():
                pnginfo.add_text(key, value)
        if image.mode not in _PNG_MODES:
            image = image.convert("RGBA" if image.has_transparency_data else "RGB")
        image.save(out, format="PNG", pnginfo=pnginfo)
    elif fmt_l in ("jpg", "jpeg", "webp"):
        comment = infotext if infotext is not None else image.info.get("parameters")
        exif = _user_comment_exif(comment if isinstance(comment, str) else "")
        if fmt_l == "webp":
            if image.mode != "RGB":
                image = image.convert("RGB")
            image.save(out, format="WEBP", exif=exif, quality=jpeg_quality, lossless=webp_lossless)
        else:
            if image.mode not in ("RGB", "L"):
                image = image.convert("RGB")
            kwargs = {"exif": exif} if len(exif) <= _JPEG_MAX_EXIF else {}
            image.save(out, format="JPEG", quality=jpeg_quality, **kwargs)
    else:
        raise InvalidRequestError(
            f"samples_format: unsupported image format {fmt!r}; use png, jpg, jpeg or webp", field="samples_format"
        )
    return out.getvalue()


def encode_image_base64(
    image: Image.Image,
    *,
    fmt: str = "png",
    infotext: str | None = None,
    jpeg_quality: int = 80,
    webp_lossless: bool = False,
    text: Mapping[str, str] | None = None,
) -> str:
    """`encode_image` as a base64 str, without a data: prefix (what A1111 returns in `images`)."""
    data = encode_image(image, fmt=fmt, infotext=infotext, jpeg_quality=jpeg_quality, webp_lossless=webp_lossless,
                        text=text)
    return base64.b64encode(data).decode("ascii")


def exif_user_comment(exif_data: bytes) -> str | None:
    """The decoded EXIF UserComment in raw EXIF bytes (with or without the "Exif\\0\\0" header), or None."""
    exif = Image.Exif()
    try:
        exif.load(exif_data)
        comment = exif.get_ifd(EXIF_IFD_POINTER).get(EXIF_USER_COMMENT)
    except (SyntaxError, ValueError, OSError, TypeError, KeyError, struct.error):
        return None
    if isinstance(comment, str):  # stored as ASCII type: Pillow decoded the bytes as latin-1
        comment = comment.encode("latin-1", errors="replace")
    if isinstance(comment, tuple) and all(isinstance(b, int) for b in comment):
        comment = bytes(b & 0xFF for b in comment)
    if not isinstance(comment, bytes):
        return None
    encoding = _UC_PREFIXES.get(comment[:8])
    if encoding is None:
        return comment.decode("utf8", errors="ignore")
    return comment[8:].decode(encoding, errors="replace")


def read_infotext(image: Image.Image) -> tuple[str | None, dict[str, str]]:
    """(infotext, other items) of a decoded image, as A1111's read_info_from_image (/png-info).

    The infotext is the PNG "parameters" text, or the EXIF UserComment when non-empty (JPEG/WebP), or a GIF comment.
    Items are the remaining str-valued info entries (e.g. "postprocessing"), without format details.
    """
    items = dict(image.info or {})
    geninfo = items.pop("parameters", None)
    if "exif" in items:
        comment = exif_user_comment(items["exif"]) if isinstance(items["exif"], (bytes, bytearray)) else None
        if comment:
            geninfo = comment
    elif "comment" in items:
        comment = items["comment"]
        geninfo = comment.decode("utf8", errors="ignore") if isinstance(comment, bytes) else comment
    if geninfo is not None and not isinstance(geninfo, str):
        geninfo = None
    clean = {k: v for k, v in items.items() if isinstance(k, str) and isinstance(v, str) and k not in IGNORED_INFO_KEYS}
    return geninfo, clean


def make_grid(
    images: Sequence[Image.Image],
    rows: int | None = None,
    *,
    prevent_empty_spots: bool = False,
    background: str = "#ffffff",
) -> Image.Image:
    """A1111 `image_grid` with opts.n_rows = -1 (default): rows = round(sqrt(n)) (with `prevent_empty_spots`, the
    largest divisor of n not above floor(sqrt(n))), at most n; cols = ceil(n / rows). Cells have the largest width and
    height among the images; smaller images are centred. The grid is RGB on `background`."""
    if not images:
        raise ValueError("make_grid needs at least one image")
    n = len(images)
    if rows is None or rows <= 0:
        if prevent_empty_spots:
            rows = math.floor(math.sqrt(n))
            while n % rows != 0:
                rows -= 1
        else:
            rows = round(math.sqrt(n))
    rows = min(rows, n)
    cols = math.ceil(n / rows)
    w = max(img.width for img in images)
    h = max(img.height for img in images)
    grid = Image.new("RGB", (cols * w, rows * h), ImageColor.getcolor(background, "RGB"))
    for i, img in enumerate(images):
        dx = (w - img.width) // 2
        dy = (h - img.height) // 2
        grid.paste(img if img.mode in ("RGB", "RGBA", "L") else img.convert("RGB"),
                   (i % cols * w + dx, i // cols * h + dy))
    return grid


def resize_image(
    resize_mode: int,
    image: Image.Image,
    width: int,
    height: int,
    upscaler_name: str | None = "Lanczos",
    *,
    field: str = "upscaler_name",
) -> Image.Image:
    """A1111 `images.resize_image`.

    0 (and 3, whose latent upscale lives elsewhere): stretch to width x height (mode kept).
    1: crop and resize - scale to cover, centre, crop the excess (RGB result).
    2: resize and fill - scale to fit, centre, fill the bands with the image's edge rows/columns stretched (RGB).
    Enlarging uses `upscaler_name` (None, "None" or an L image: plain Lanczos), then Lanczos to the exact size.
    An unknown upscaler raises InvalidRequestError(field=field).
    """

    if width < 1 or height < 1:
        raise InvalidRequestError(f"{field}: target size {width}x{height} is invalid", field=field)

    def resize(im: Image.Image, w: int, h: int) -> Image.Image:
        if upscaler_name is None or upscaler_name == "None" or im.mode == "L":
            return im.resize((w, h), resample=LANCZOS)
        upscaler = upscalers.get_upscaler(upscaler_name, field=field)
        if max(w / im.width, h / im.height) > 1.0:
            im = upscalers.upscale(im, (w, h), upscaler.name, field=field)
        if im.size != (w, h):
            im = im.resize((w, h), resample=LANCZOS)
        return im

    if resize_mode not in (1, 2):
        return resize(image, width, height)

    ratio = width / height
    src_ratio = image.width / image.height
    if resize_mode == 1:
        src_w = width if ratio > src_ratio else math.ceil(image.width * height / image.height)
        src_h = height if ratio <= src_ratio else math.ceil(image.height * width / image.width)
    else:
        src_w = width if ratio < src_ratio else max(1, math.floor(image.width * height / image.height))
        src_h = height if ratio >= src_ratio else max(1, math.floor(image.height * width / image.width))
    resized = resize(image, src_w, src_h)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    if resize_mode == 2:
        if ratio < src_ratio:
            fill = height // 2 - src_h // 2
            if fill > 0:
                res.paste(resized.resize((width, fill), box=(0, 0, width, 0)), box=(0, 0))
                res.paste(resized.resize((width, fill), box=(0, resized.height, width, resized.height)),
                          box=(0, fill + src_h))
        elif ratio > src_ratio:
            fill = width // 2 - src_w // 2
            if fill > 0:
                res.paste(resized.resize((fill, height), box=(0, 0, 0, height)), box=(0, 0))
                res.paste(resized.resize((fill, height), box=(resized.width, 0, resized.width, height)),
                          box=(fill + src_w, 0))
    return res


def flatten(image: Image.Image, background: str) -> Image.Image:
    """A1111 `images.flatten`: transparency replaced by `background` (e.g. "#ffffff"); an RGB image."""
    if image.mode == "RGBA":
        base = Image.new("RGBA", image.size, background)
        base.paste(image, mask=image)
        image = base
    return image.convert("RGB")


@dataclass
class TileGrid:
    """A1111's images.Grid: rows of (y, h, [[x, w, tile], ...]) over an image of image_w x image_h."""

    tiles: list[list[Any]]
    tile_w: int
    tile_h: int
    image_w: int
    image_h: int
    overlap: int


def split_grid(image: Image.Image, tile_w: int, tile_h: int, overlap: int) -> TileGrid:
    """A1111 `images.split_grid`: evenly spaced tiles covering the image, neighbours overlapping by >= overlap."""
    w, h = image.size
    cols = max(1, math.ceil((w - overlap) / (tile_w - overlap)))
    rows = max(1, math.ceil((h - overlap) / (tile_h - overlap)))
    dx = (w - tile_w) / (cols - 1) if cols > 1 else 0
    dy = (h - tile_h) / (rows - 1) if rows > 1 else 0
    grid = TileGrid([], tile_w, tile_h, w, h, overlap)
    for row in range(rows):
        y = min(int(row * dy), h - tile_h)
        row_tiles = []
        for col in range(cols):
            x = min(int(col * dx), w - tile_w)
            row_tiles.append([x, tile_w, image.crop((x, y, x + tile_w, y + tile_h))])
        grid.tiles.append([y, tile_h, row_tiles])
    return grid


def _ramp(length: int, across: int, horizontal: bool) -> Image.Image:
    ramp = (np.arange(length, dtype=np.float32) * 255 / length).astype(np.uint8)
    arr = np.repeat(ramp[None, :], across, axis=0) if horizontal else np.repeat(ramp[:, None], across, axis=1)
    return Image.fromarray(arr, "L")


def combine_grid(grid: TileGrid) -> Image.Image:
    """A1111 `images.combine_grid`: paste tiles back, blending each one in over the overlap with a linear ramp."""
    ov = grid.overlap
    combined = Image.new("RGB", (grid.image_w, grid.image_h))
    for y, h, row in grid.tiles:
        line = Image.new("RGB", (grid.image_w, h))
        for x, w, tile in row:
            if x == 0 or ov == 0:
                line.paste(tile, (x, 0))
                continue
            line.paste(tile.crop((0, 0, ov, h)), (x, 0), mask=_ramp(ov, h, True))
            line.paste(tile.crop((ov, 0, w, h)), (x + ov, 0))
        if y == 0 or ov == 0:
            combined.paste(line, (0, y))
            continue
        combined.paste(line.crop((0, 0, line.width, ov)), (0, y), mask=_ramp(ov, line.width, False))
        combined.paste(line.crop((0, ov, line.width, h)), (0, y + ov))
    return combined
