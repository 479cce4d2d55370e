"""The /filebrowser/api REST routes. Every route depends on the API's auth; write routes refuse in read-only mode.

`install(app, config)` is what the extension calls from `on_app_started`; tests call it on a bare FastAPI app.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from modules.api.auth import require_api_or_ui_auth
from modules.errors import InvalidRequestError

from . import fileops
from .archive import iter_zip, iter_zip_many
from .config import API_PREFIX, FileBrowserConfig
from .errors import ReadOnlyError
from .listing import annotate, cached_hashes, describe, file_info, list_dir
from .paths import PathGuard, is_under
from .thumbs import MAX_SIZE, MIN_SIZE, make_thumbnail
from .tus import UploadStore
from .tus_routes import build_tus_router

NO_SNIFF = {"X-Content-Type-Options": "nosniff"}


class PathBody(BaseModel):
    path: str = Field(description="folder to create, relative to the data dir")


class MoveBody(BaseModel):
    src: str = Field(description="existing file or folder, relative to the data dir")
    dst: str = Field(description="full new path (not a folder to move into), relative to the data dir")
    overwrite: bool = Field(False, description="replace an existing file at dst (folders are never replaced)")


def content_disposition(filename: str) -> str:
    """`attachment` with an RFC 5987 `filename*` for non-ASCII names (as starlette's FileResponse)."""
    quoted = quote(filename)
    if quoted != filename:
        return f"attachment; filename*=utf-8''{quoted}"
    return f'attachment; filename="{filename}"'


def build_router(config: FileBrowserConfig) -> APIRouter:
    """All FileBrowser routes under API_PREFIX, closed over one PathGuard and one UploadStore."""
    guard = PathGuard(config.data_dir, protected=config.protected_paths, server_files=config.server_file_paths,
                      allow_config=config.allow_config)
    upload_dir = guard.resolve(fileops.RESERVED, field="upload dir")  # refuses a cache/uploads symlinked out
    store = UploadStore(upload_dir.real, expiry_s=config.upload_expiry_s)
    router = APIRouter(prefix=API_PREFIX, tags=["filebrowser"], dependencies=[Depends(require_api_or_ui_auth)])

    def writable() -> None:
        if config.readonly:
            raise ReadOnlyError("the FileBrowser is read-only (--filebrowser-readonly): writes are disabled")

    def models_changed(*rels: str) -> None:
        if config.on_models_changed is not None and any(is_under(rel, "models") for rel in rels):
            config.on_models_changed()

    def in_use() -> dict[str, str]:
        if config.in_use is None:
            return {}
        return {os.path.realpath(path): why for path, why in config.in_use().items()}

    @router.get("/list")
    def list_folder(path: str = "", offset: int = Query(0, ge=0),
                    limit: int | None = Query(None, ge=1, le=100_000)) -> dict[str, Any]:
        """`{path, total, offset, entries: [{name, path, is_dir, size, modified, is_image, is_symlink, outside,
        sha256, in_use}]}`: `sha256` of model files whose hash is known (cached), `in_use` why the server needs the
        file (e.g. "the selected checkpoint"), else null."""
        listing = list_dir(guard, guard.existing(path), offset=offset, limit=limit)
        annotate(listing["entries"], guard, hashes=cached_hashes(config.hash_cache_file), in_use=in_use())
        return listing

    @router.get("/download")
    def download(path: str) -> Response:
        """A file as an attachment (Range supported), or a folder as a streamed `<name>.zip`."""
        target = guard.existing(path)
        if target.real.is_dir():
            name = f"{target.name or Path(guard.root).name or 'data'}.zip"
            return StreamingResponse(iter_zip(guard, target), media_type="application/zip",
                                     headers={"Content-Disposition": content_disposition(name), **NO_SNIFF})
        return FileResponse(target.real, filename=target.name, content_disposition_type="attachment",
                            headers=NO_SNIFF)

    @router.get("/download-zip")
    def download_zip(path: list[str] = Query(..., max_length=1000)) -> Response:
        """Several files and folders (selected together) as one streamed zip."""
        targets = [guard.existing(p) for p in dict.fromkeys(path)]
        name = "selection.zip" if len(targets) > 1 else f"{targets[0].name or 'data'}.zip"
        return StreamingResponse(iter_zip_many(guard, targets), media_type="application/zip",
                                 headers={"Content-Disposition": content_disposition(name), **NO_SNIFF})

    @router.get("/thumbnail")
    def thumbnail(path: str, size: int = Query(128, ge=MIN_SIZE, le=MAX_SIZE)) -> Response:
        """A JPEG (PNG when the image has alpha) fitting in size x size."""
        target = guard.existing(path)
        if target.real.is_dir():
            raise InvalidRequestError("path: a folder has no thumbnail", field="path")
        data, media_type = make_thumbnail(target.real, size)
        return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=300", **NO_SNIFF})

    @router.get("/info")
    def info(path: str, sha256: bool = True) -> dict[str, Any]:
        """Size, dates, sha256 (files; model files through the registry's hash cache), image infotext."""
        return file_info(guard.existing(path), hash_cache_file=config.hash_cache_file, with_sha256=sha256)

    @router.post("/mkdir", dependencies=[Depends(writable)])
    def mkdir(body: PathBody) -> dict[str, Any]:
        target = guard.writable(guard.resolve(body.path))
        fileops.make_dir(target)
        return describe(guard, target.lexical, target.rel)

    @router.post("/move", dependencies=[Depends(writable)])
    def move(body: MoveBody) -> dict[str, Any]:
        src = guard.writable(guard.resolve(body.src, field="src"), field="src")
        dst = guard.writable(guard.resolve(body.dst, field="dst"), field="dst")
        fileops.move(guard, src, dst, overwrite=body.overwrite)
        models_changed(src.rel, dst.rel)
        return {"src": src.rel, "dst": dst.rel, "entry": describe(guard, dst.lexical, dst.rel)}

    @router.delete("/delete", dependencies=[Depends(writable)])
    def delete(path: str) -> dict[str, Any]:
        target = guard.writable(guard.resolve(path))
        fileops.delete(target)
        models_changed(target.rel)
        return {"deleted": target.rel}

    router.include_router(build_tus_router(config, guard, store))
    if config.store is not None:
        from .store_routes import build_store_router

        router.include_router(build_store_router(config.store))
    return router


def install(app: FastAPI, config: FileBrowserConfig) -> None:
    """Add the FileBrowser routes to `app` (before any catch-all mount such as the Gradio UI at "/")."""
    app.include_router(build_router(config))
