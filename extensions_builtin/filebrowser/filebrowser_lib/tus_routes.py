"""tus 1.0.0 HTTP endpoints (Core, Creation, Termination, Expiration) over an `UploadStore`.

Every response, errors included, carries `Tus-Resumable: 1.0.0`: `TusRoute` runs the app's own exception
handlers (so error bodies keep the app-wide A1111 shape) and adds the header plus any headers the error names.
Proxies that block PATCH/HEAD/DELETE can send `POST` with `X-HTTP-Method-Override`.
"""
from __future__ import annotations

import base64
import binascii
import inspect
import shutil
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from modules.errors import EaselError, InvalidRequestError

from .config import API_PREFIX, FileBrowserConfig
from .errors import (
    BadRequestError,
    ConflictError,
    InsufficientStorageError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ReadOnlyError,
    UnsupportedMediaTypeError,
)
from .fileops import check_not_reserved
from .paths import PathGuard, Resolved, is_under
from .tus import TUS_VERSION, Upload, UploadStore

TUS_EXTENSIONS = "creation,termination,expiration"
MAX_METADATA_CHARS = 8192
OFFSET_MEDIA_TYPE = "application/offset+octet-stream"


async def _app_error_response(request: Request, exc: Exception) -> Response:
    """The response the app's registered handler gives for `exc` (looked up along its MRO)."""
    for cls in type(exc).__mro__:
        handler = request.app.exception_handlers.get(cls)
        if handler is not None:
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
            for key, value in (getattr(exc, "headers", None) or {}).items():
                response.headers[key] = value
            return response
    raise exc


class TusRoute(APIRoute):
    """An APIRoute whose every response carries Tus-Resumable, errors included."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def tus_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except (EaselError, StarletteHTTPException) as exc:
                response = await _app_error_response(request, exc)
            response.headers["Tus-Resumable"] = TUS_VERSION
            return response

        return tus_handler


def _with_headers(exc: EaselError, **headers: str) -> EaselError:
    exc.headers = {k.replace("_", "-"): v for k, v in headers.items()}
    return exc


def check_version(request: Request) -> None:
    """412 unless the request speaks tus 1.0.0."""
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise _with_headers(PreconditionFailedError(f"Tus-Resumable: {TUS_VERSION} is required"),
                            Tus_Version=TUS_VERSION)


def parse_size(value: str | None, name: str) -> int:
    """A required non-negative integer header (400 when missing or malformed)."""
    if value is None:
        raise BadRequestError(f"{name} header is required", field=name)
    if not value.strip().isdigit():
        raise BadRequestError(f"{name} must be a non-negative integer, got {value!r}", field=name)
    return int(value)


def parse_metadata(header: str | None) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64value` pairs (the value may be absent)."""
    if not header:
        return {}
    if len(header) > MAX_METADATA_CHARS:
        raise BadRequestError(f"Upload-Metadata is longer than {MAX_METADATA_CHARS} characters",
                              field="Upload-Metadata")
    result: dict[str, str] = {}
    for item in header.split(","):
        key, _, encoded = item.strip().partition(" ")
        if not key or key in result:
            raise BadRequestError(f"Upload-Metadata: empty or repeated key in {item!r}", field="Upload-Metadata")
        try:
            result[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BadRequestError(f"Upload-Metadata: value of {key!r} is not base64 UTF-8",
                                  field="Upload-Metadata") from exc
    return result


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def build_tus_router(config: FileBrowserConfig, guard: PathGuard, store: UploadStore) -> APIRouter:
    """The /tus routes (mounted under API_PREFIX by routes.build_router)."""
    router = APIRouter(route_class=TusRoute)

    def check_writable() -> None:
        if config.readonly:
            raise ReadOnlyError("the FileBrowser is read-only (--filebrowser-readonly): uploads are disabled")

    def target_of(upload: Upload) -> Resolved:
        folder = guard.resolve(upload.folder, field="Upload-Metadata path")
        target = guard.child(folder, upload.filename, field="Upload-Metadata filename")
        check_not_reserved(target, field="Upload-Metadata path")
        return guard.writable(target, field="Upload-Metadata filename")

    async def finish(upload: Upload) -> dict[str, Any]:
        target = target_of(upload)
        result = await to_thread.run_sync(store.finish, upload, target)
        if config.on_models_changed is not None and is_under(target.rel, "models"):
            await to_thread.run_sync(config.on_models_changed)
        return result

    def options() -> Response:
        headers = {"Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS}
        if config.max_upload_size is not None:
            headers["Tus-Max-Size"] = str(config.max_upload_size)
        return Response(status_code=204, headers=headers)

    async def create(request: Request) -> Response:
        check_version(request)
        check_writable()
        await to_thread.run_sync(store.sweep)
        if "upload-defer-length" in request.headers:
            raise BadRequestError("Upload-Defer-Length is not supported; send Upload-Length", field="Upload-Length")
        length = parse_size(request.headers.get("upload-length"), "Upload-Length")
        if config.max_upload_size is not None and length > config.max_upload_size:
            raise PayloadTooLargeError(f"Upload-Length {length} exceeds Tus-Max-Size {config.max_upload_size}")
        metadata = parse_metadata(request.headers.get("upload-metadata"))
        folder = guard.resolve(metadata.get("path", ""), field="Upload-Metadata path")
        check_not_reserved(folder, field="Upload-Metadata path")
        if folder.exists() and not folder.real.is_dir():
            raise InvalidRequestError(f"Upload-Metadata path: {folder.rel} is not a folder", field="path")
        filename = metadata.get("filename") or metadata.get("name") or ""
        target = guard.writable(guard.child(folder, filename, field="Upload-Metadata filename"),
                                field="Upload-Metadata filename")
        overwrite = metadata.get("overwrite", "").strip().lower() == "true"
        if target.exists() and (not overwrite or (target.real.is_dir() and not target.lexical.is_symlink())):
            raise ConflictError(f"{target.rel} already exists; send overwrite=true metadata to replace a file",
                                field="path")
        await to_thread.run_sync(lambda: store.dir.mkdir(parents=True, exist_ok=True))
        free = shutil.disk_usage(store.dir).free
        if length > free:
            raise InsufficientStorageError(f"Upload-Length {length} exceeds the free disk space ({free} bytes)")
        upload = await to_thread.run_sync(lambda: store.create(
            length=length, filename=filename, folder=folder.rel, overwrite=overwrite, metadata=metadata))
        if length == 0:
            await finish(upload)
        location = f"{request.scope.get('root_path', '')}{API_PREFIX}/tus/{upload.id}"
        return Response(status_code=201, headers={"Location": location, "Upload-Offset": "0",
                                                  "Upload-Expires": http_date(upload.expires)})

    async def head(request: Request, upload_id: str) -> Response:
        check_version(request)
        upload = await to_thread.run_sync(store.get, upload_id)
        offset = await to_thread.run_sync(store.offset, upload)
        return Response(status_code=200, headers={
            "Upload-Offset": str(offset), "Upload-Length": str(upload.length), "Cache-Control": "no-store",
            "Upload-Expires": http_date(upload.expires)})

    async def patch(request: Request, upload_id: str) -> Response:
        check_version(request)
        check_writable()
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != OFFSET_MEDIA_TYPE:
            raise UnsupportedMediaTypeError(f"PATCH needs Content-Type: {OFFSET_MEDIA_TYPE}")
        offset = parse_size(request.headers.get("upload-offset"), "Upload-Offset")
        raw_length = request.headers.get("content-length")
        content_length = None if raw_length is None else parse_size(raw_length, "Content-Length")
        await to_thread.run_sync(store.get, upload_id)  # validates the id before a lock is made for it
        async with store.lock(upload_id):
            upload = await to_thread.run_sync(store.get, upload_id)
            current = await to_thread.run_sync(store.offset, upload)
            if offset != current:
                raise _with_headers(ConflictError(f"Upload-Offset {offset} does not match the current offset "
                                                  f"{current}", field="Upload-Offset"), Upload_Offset=str(current))
            if not upload.completed:
                current = await store.append(upload, offset, request.stream(), content_length)
                if current == upload.length:
                    await finish(upload)
        return Response(status_code=204, headers={"Upload-Offset": str(current),
                                                  "Upload-Expires": http_date(upload.expires)})

    async def terminate(request: Request, upload_id: str) -> Response:
        check_version(request)
        check_writable()
        await to_thread.run_sync(store.get, upload_id)
        async with store.lock(upload_id):
            await to_thread.run_sync(store.terminate, upload_id)
        return Response(status_code=204)

    async def override(request: Request, upload_id: str) -> Response:
        method = request.headers.get("x-http-method-override", "").upper()
        handlers = {"PATCH": patch, "HEAD": head, "DELETE": terminate}
        if method not in handlers:
            raise BadRequestError("POST on an upload needs X-HTTP-Method-Override: PATCH, HEAD or DELETE",
                                  field="X-HTTP-Method-Override")
        return await handlers[method](request, upload_id)

    async def result(upload_id: str) -> JSONResponse:
        upload = await to_thread.run_sync(store.get, upload_id)
        if not upload.completed or upload.result is None:
            offset = await to_thread.run_sync(store.offset, upload)
            raise ConflictError(f"upload {upload_id} is not finished ({offset} of {upload.length} bytes)")
        return JSONResponse(upload.result)

    for path in ("/tus", "/tus/"):
        router.add_api_route(path, options, methods=["OPTIONS"], include_in_schema=path == "/tus/")
        router.add_api_route(path, create, methods=["POST"], status_code=201, include_in_schema=path == "/tus/")
    router.add_api_route("/tus/{upload_id}", options, methods=["OPTIONS"])
    router.add_api_route("/tus/{upload_id}", head, methods=["HEAD"])
    router.add_api_route("/tus/{upload_id}", patch, methods=["PATCH"], status_code=204)
    router.add_api_route("/tus/{upload_id}", terminate, methods=["DELETE"], status_code=204)
    router.add_api_route("/tus/{upload_id}", override, methods=["POST"])
    router.add_api_route("/tus/{upload_id}/result", result, methods=["GET"])
    return router
