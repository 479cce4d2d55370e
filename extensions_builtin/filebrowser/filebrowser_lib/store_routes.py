"""/filebrowser/api/store/...: the object store's output prefix (`--storage-url oss://` / `s3://`), read-only.

Task results and save_images / save_dir outputs live in the store, not in the data dir, so the data-dir routes
cannot see them. These routes list one folder level (a delimiter listing in the store), stream an object (or a
selection, zipped) out as an attachment, and give thumbnails and image info, with the shapes of the data-dir
routes, so the FileBrowser tab's read-only store view is the same browser over /filebrowser/api/store. Keys are
checked by the storage layer (`normalize_prefix`, `normalize_key`: no traversal, nothing outside the configured
prefix). Objects are removed by retention, not here.
"""
from __future__ import annotations

import io
import posixpath
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from modules.errors import InvalidRequestError
from modules.storage.base import Storage, content_type, normalize_key, normalize_prefix

from .archive import iter_zip_objects
from .listing import IMAGE_SUFFIXES, image_info, iso_time
from .thumbs import MAX_SIZE, MIN_SIZE, make_thumbnail

NO_SNIFF = {"X-Content-Type-Options": "nosniff"}
MAX_IMAGE_BYTES = 64 << 20  # objects read whole for a thumbnail or image info


def _entry(key: str, *, is_dir: bool, size: int = 0, mtime: float = 0.0) -> dict[str, Any]:
    name = key.rsplit("/", 1)[-1]
    return {"name": name, "path": key, "is_dir": is_dir, "size": size, "modified": iso_time(mtime) if mtime else None,
            "is_image": not is_dir and posixpath.splitext(name)[1].lower() in IMAGE_SUFFIXES, "is_symlink": False,
            "outside": False}


def build_store_router(store: Storage) -> APIRouter:
    """The store routes (mounted inside the FileBrowser router, so its auth applies)."""
    from .routes import content_disposition

    router = APIRouter(prefix="/store")

    @router.get("/list")
    def list_store(path: str = "", offset: int = Query(0, ge=0),
                   limit: int | None = Query(None, ge=1, le=100_000)) -> dict[str, Any]:
        """`{store, path, total, offset, entries}`: folders first, then objects, by name."""
        folder = normalize_prefix(path)
        level = store.list_folder(folder)
        entries = [_entry(key, is_dir=True) for key in level.folders]
        entries += [_entry(info.key, is_dir=False, size=info.size, mtime=info.mtime) for info in level.objects]
        window = entries[offset: offset + limit if limit is not None else None]
        return {"store": store.reference(folder) if folder else store.describe(), "path": folder,
                "total": len(entries), "offset": offset, "entries": window}

    @router.get("/download")
    def download_store(path: str) -> StreamingResponse:
        """An object as an attachment, streamed from the store (404 when absent, 503 when the store is down); a
        folder as a zip of the objects under it."""
        folder = normalize_prefix(path)
        under = [info.key for info in store.list(folder)] if folder else []
        if under and not store.exists(normalize_key(path)):
            name = f"{folder.rsplit('/', 1)[-1]}.zip"
            return StreamingResponse(iter_zip_objects(store, under, base=folder), media_type="application/zip",
                                     headers={"Content-Disposition": content_disposition(name), **NO_SNIFF})
        key = normalize_key(path)
        info = store.stat(key)
        chunks = store.iter_chunks(key)
        return StreamingResponse(chunks, media_type=content_type(key), headers={
            "Content-Disposition": content_disposition(key.rsplit("/", 1)[-1]), "Content-Length": str(info.size),
            **NO_SNIFF})

    @router.get("/download-zip")
    def download_store_zip(path: list[str] = Query(..., max_length=1000)) -> StreamingResponse:
        """Several objects (selected together) as one streamed zip."""
        keys = [normalize_key(p) for p in dict.fromkeys(path)]
        name = "selection.zip" if len(keys) > 1 else f"{keys[0].rsplit('/', 1)[-1]}.zip"
        return StreamingResponse(iter_zip_objects(store, keys), media_type="application/zip",
                                 headers={"Content-Disposition": content_disposition(name), **NO_SNIFF})

    @router.get("/thumbnail")
    def store_thumbnail(path: str, size: int = Query(128, ge=MIN_SIZE, le=MAX_SIZE)) -> Response:
        data, media_type = make_thumbnail(io.BytesIO(_image_bytes(store, path)), size)
        return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=60", **NO_SNIFF})

    @router.get("/info")
    def store_info(path: str, sha256: bool = False) -> dict[str, Any]:
        """Size, modification time and, for images, size, format and infotext (no sha256: the store has ETags)."""
        key = normalize_key(path)
        meta = store.stat(key)
        info: dict[str, Any] = {"path": key, "name": key.rsplit("/", 1)[-1], "is_dir": False, "size": meta.size,
                                "modified": iso_time(meta.mtime) if meta.mtime else None, "created": None,
                                "sha256": None, "etag": meta.etag}
        if posixpath.splitext(key)[1].lower() in IMAGE_SUFFIXES:
            info["image"] = image_info(io.BytesIO(_image_bytes(store, key)))
        return info

    return router


def _image_bytes(store: Storage, path: str) -> bytes:
    key = normalize_key(path)
    if posixpath.splitext(key)[1].lower() not in IMAGE_SUFFIXES:
        raise InvalidRequestError("path: not an image", field="path")
    if store.stat(key).size > MAX_IMAGE_BYTES:
        raise InvalidRequestError(f"path: over {MAX_IMAGE_BYTES >> 20} MB, too large for a preview", field="path")
    return store.read(key)
