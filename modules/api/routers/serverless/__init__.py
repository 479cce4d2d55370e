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

from modules.errors import EaselError, NotFoundError, QueueFullError
from modules.path_guard import PathGuard, is_within

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


def image_input(services, value: str | None, field: str) -> str | None:
    """An image given as base64 (or a data: URL) or as a stored path; returns base64."""
    if not value or not isinstance(value, str) or value.startswith("data:"):
        return value
    if len(value) < 1024 and (value.startswith(("/", "./", "../")) or _PATH_HINT.search(value)):
        path = stored_path(services, value, field)
        if path.stat().st_size > 64 * 1024 * 1024:
            raise EaselError(f"{field}: stored image too large")
        return base64.b64encode(path.read_bytes()).decode("ascii")
    return value


def result_paths(services, keys: list[str]) -> list[str]:
    """Storage keys as data-dir-relative paths (usable again as stored-path inputs)."""
    outputs = services.paths.outputs_dir.resolve().relative_to(services.paths.data_dir.resolve()).as_posix()
    return [f"{outputs}/{key}" for key in keys]


def routers() -> list[APIRouter]:
    from modules.api.routers.serverless import admin, inference, models, tasks

    return [inference.router, tasks.router, models.router, admin.router]
