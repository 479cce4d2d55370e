"""Read-only views of the data dir: directory listings and per-file info (dates, sha256, image infotext)."""
from __future__ import annotations

import hashlib
import os
import stat
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from modules.errors import InvalidRequestError
from modules.model_registry.hashes import valid_cached_hashes

from .paths import PathGuard, Resolved, is_under, is_within

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
MAX_IMAGE_PIXELS = 8192 * 8192
"""Images above this are not decoded (thumbnail/infotext): refused before any pixel data is read."""
FULL_DECODE_PIXELS = 4096 * 4096
HASH_BLOCK = 1 << 20


def iso_time(timestamp: float) -> str:
    """A POSIX timestamp as an ISO 8601 UTC string."""
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


def describe(guard: PathGuard, lexical: Path, rel: str) -> dict[str, Any]:
    """One listing entry. A symlink is followed only when its target stays inside the data dir."""
    lst = os.lstat(lexical)
    is_link = stat.S_ISLNK(lst.st_mode)
    st, outside = lst, False
    if is_link:
        target = os.path.realpath(lexical)
        outside = not is_within(guard.root, target)
        if not outside and os.path.exists(target):
            st = os.stat(target)
    is_dir = stat.S_ISDIR(st.st_mode)
    return {
        "name": lexical.name,
        "path": rel,
        "is_dir": is_dir,
        "size": 0 if is_dir or stat.S_ISLNK(st.st_mode) else st.st_size,
        "modified": iso_time(st.st_mtime),
        "is_image": not is_dir and not outside and lexical.suffix.lower() in IMAGE_SUFFIXES,
        "is_symlink": is_link,
        "outside": outside,
    }


def cached_hashes(hash_cache_file: Path | None) -> dict[str, str]:
    """{absolute path: sha256} of the model registry's hash cache, still valid for the files' mtime and size."""
    return {} if hash_cache_file is None else valid_cached_hashes(hash_cache_file)


def annotate(entries: list[dict[str, Any]], guard: PathGuard, *, hashes: dict[str, str],
             in_use: dict[str, str]) -> None:
    """Add `sha256` (files under models/ whose hash is cached; None otherwise) and `in_use` (why the server
    needs the file, or None) to listing entries."""
    for entry in entries:
        real = os.path.realpath(os.path.join(guard.root, entry["path"]))
        entry["sha256"] = hashes.get(real) if is_under(entry["path"], "models") and not entry["is_dir"] else None
        reasons = [why for path, why in in_use.items() if path == real or (entry["is_dir"] and is_within(real, path))]
        entry["in_use"] = "; ".join(dict.fromkeys(reasons)) or None


def list_dir(guard: PathGuard, target: Resolved, *, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    """`{path, total, entries}`: directories first, then files, each group by case-folded name."""
    if not target.real.is_dir():
        raise InvalidRequestError(f"path: {target.rel or '/'} is not a folder", field="path")
    entries = []
    with os.scandir(target.real) as it:
        for item in it:
            if guard.is_protected(target.real / item.name):
                continue  # the server's private files are never shown
            rel = f"{target.rel}/{item.name}" if target.rel else item.name
            try:
                entries.append(describe(guard, target.real / item.name, rel))
            except FileNotFoundError:  # removed while listing
                continue
    entries.sort(key=lambda e: (not e["is_dir"], e["name"].casefold(), e["name"]))
    total = len(entries)
    window = entries[offset: offset + limit if limit is not None else None]
    return {"path": target.rel, "total": total, "offset": offset, "entries": window}


def sha256_stream(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks (never the whole file in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(target: Resolved, hash_cache_file: Path | None) -> str:
    """Model files reuse the model registry's sha256 cache (so a later scan is free); others hash directly."""
    if hash_cache_file is not None and is_under(target.rel, "models"):
        from modules.model_registry.hashes import sha256_file

        return sha256_file(target.real, hash_cache_file)
    return sha256_stream(target.real)


def open_image(path: Path | BinaryIO) -> Image.Image:
    """Opens an image header-first; refuses non-images, other formats and decompression bombs (422)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path, formats=IMAGE_FORMATS)
    except (OSError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidRequestError(f"path: not a readable PNG/JPEG/WebP/GIF image ({exc})", field="path") from exc
    if image.width * image.height > MAX_IMAGE_PIXELS:
        image.close()
        raise InvalidRequestError(
            f"path: image is {image.width}x{image.height}, over the {MAX_IMAGE_PIXELS} pixel limit", field="path")
    return image


def image_info(path: Path | BinaryIO) -> dict[str, Any]:
    """Size, format and A1111 infotext of an image. Metadata is read from the header; only a PNG small enough
    (<= 16 Mpx) is fully decoded, to also see text chunks stored after the pixel data."""
    from modules.images import read_infotext

    with open_image(path) as image:
        if image.format == "PNG" and image.width * image.height <= FULL_DECODE_PIXELS:
            try:
                image.load()
            except OSError as exc:
                raise InvalidRequestError(f"path: image data is damaged ({exc})", field="path") from exc
        infotext, items = read_infotext(image)
        return {"width": image.width, "height": image.height, "format": image.format,
                "infotext": infotext, "items": items}


def file_info(target: Resolved, *, hash_cache_file: Path | None, with_sha256: bool = True) -> dict[str, Any]:
    """`{path, name, is_dir, size, created, modified, sha256, entries?, image?}` of an existing path."""
    st = target.real.stat()
    created = getattr(st, "st_birthtime", st.st_ctime)
    info: dict[str, Any] = {
        "path": target.rel, "name": target.name or target.real.name, "is_dir": target.real.is_dir(),
        "size": st.st_size, "created": iso_time(created), "modified": iso_time(st.st_mtime), "sha256": None,
    }
    if info["is_dir"]:
        info["size"] = 0
        with os.scandir(target.real) as it:
            info["entries"] = sum(1 for _ in it)
        return info
    if with_sha256:
        info["sha256"] = file_sha256(target, hash_cache_file)
    if target.lexical.suffix.lower() in IMAGE_SUFFIXES:
        info["image"] = image_info(target.real)
    return info
