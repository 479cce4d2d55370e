"""/filebrowser/api/store/...: the object store's output prefix (`--storage-url oss://` / `s3://`), read-only.

Task results and save_images / save_dir outputs live in the store, not in the data dir, so the data-dir routes
cannot see them. These routes list one folder level (a delimiter listing in the store) and stream an object
out as an attachment, with the entry shape of /list. Keys are checked by the storage layer (`normalize_prefix`,
`normalize_key`: no traversal, nothing outside the configured prefix). Objects are removed by retention, not here.
"""
from __future__ import annotations

import posixpath
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from modules.storage.base import Storage, content_type, normalize_key, normalize_prefix

from .listing import IMAGE_SUFFIXES, iso_time

NO_SNIFF = {"X-Content-Type-Options": "nosniff"}


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
        """An object as an attachment, streamed from the store (404 when absent, 503 when the store is down)."""
        key = normalize_key(path)
        info = store.stat(key)
        chunks = store.iter_chunks(key)
        return StreamingResponse(chunks, media_type=content_type(key), headers={
            "Content-Disposition": content_disposition(key.rsplit("/", 1)[-1]), "Content-Length": str(info.size),
            **NO_SNIFF})

    return router
