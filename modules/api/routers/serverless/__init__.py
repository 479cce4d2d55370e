"""The serverless Stable Diffusion API (ref: serverless-api.yaml, devsapp/serverless-stable-diffusion-api),
mapped onto Easel's tasks, storage and model registry. Errors use the spec's `{code, message}` shape."""
from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from modules.errors import EaselError, InvalidRequestError, NotFoundError, QueueFullError
from modules.generation.inputs import MAX_STORED_INPUT_BYTES
from modules.path_guard import PathGuard, is_within
from modules.storage.base import normalize_key
from modules.storage.references import is_reference

_PATH_HINT = re.compile(r"\.(png|jpe?g|webp|bmp|gif)$", re.IGNORECASE)


def spec_error(code: int, message: str, kind: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "error": kind}, status_code=code, headers=headers)


class ServerlessRoute(APIRoute):
    """Answers domain and validation errors as the spec's Error object: {code, message}."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except QueueFullError as e:
                return spec_error(429, e.message, "QueueFullError", {"Retry-After": str(e.retry_after)})
            except EaselError as e:
                return spec_error(e.status_code, e.message, type(e).__name__)
            except RequestValidationError as e:
                where = "; ".join(f"{'.'.join(str(x) for x in err.get('loc', ()) if x != 'body')}: {err.get('msg')}"
                                  for err in e.errors())
                return spec_error(422, where or "invalid request", "RequestValidationError")

        return route


def new_router(tag: str) -> APIRouter:
    return APIRouter(tags=[tag], route_class=ServerlessRoute)


def stored_path(services, value: str, field: str) -> Path:
    """A file named by a stored path: relative to the data dir (a leading "/" is the data dir's root), confined
    by the core path guard (the server's private files are out of reach)."""
    paths = services.paths
    guard = PathGuard(paths.data_dir, protected=paths.private_paths)
    given = value if os.path.isabs(value) and is_within(guard.root, os.path.realpath(value)) else value.lstrip("/")
    path = guard.confine(given, field=field)
    if not path.is_file():
        raise NotFoundError(f"{field}: no stored file at {value!r}", field=field)
    return path


def image_input(services, value: str | None, field: str, *, inline: bool = False) -> str | None:
    """An image field as the pipeline takes it: base64 (or a data: URL) as given; an `oss://` / `s3://`
    reference as given (the pipeline reads it through the store, docs/storage.md); a stored path read into
    base64: a file in the data dir, else, with an object store, a key relative to it (turned into its
    reference). `inline` reads references into base64 too (ControlNet unit images, decoded by the extension)."""
    if not value or not isinstance(value, str) or value.startswith("data:"):
        return value
    if is_reference(value):
        return _read_reference(services, value.strip(), field) if inline else value.strip()
    if len(value) < 1024 and (value.startswith(("/", "./", "../")) or _PATH_HINT.search(value)):
        try:
            path = stored_path(services, value, field)
        except NotFoundError:
            if not services.storage.is_object_store:
                raise
            reference = services.storage.reference(_store_key(value, field))
            return _read_reference(services, reference, field) if inline else reference
        if path.stat().st_size > MAX_STORED_INPUT_BYTES:
            raise InvalidRequestError(f"{field}: stored image too large", field=field)
        return base64.b64encode(path.read_bytes()).decode("ascii")
    return value


def _store_key(value: str, field: str) -> str:
    try:
        return normalize_key(value.lstrip("/"))
    except EaselError as e:
        raise type(e)(f"{field}: {e.message}", field=field) from e


def _read_reference(services, reference: str, field: str) -> str:
    data = services.references.read(reference, field=field, max_bytes=MAX_STORED_INPUT_BYTES)
    return base64.b64encode(data).decode("ascii")


def result_paths(services, keys: list[str]) -> list[str]:
    """Where the results are, usable again as image inputs: data-dir-relative paths on local disk, the store's
    references (`oss://bucket/prefix/tasks/...`) with an object store."""
    if services.storage.is_object_store:
        return [services.storage.reference(key) for key in keys]
    outputs = services.paths.outputs_dir.resolve().relative_to(services.paths.data_dir.resolve()).as_posix()
    return [f"{outputs}/{key}" for key in keys]


def routers() -> list[APIRouter]:
    from modules.api.routers.serverless import admin, inference, models, tasks

    return [inference.router, tasks.router, models.router, admin.router]
