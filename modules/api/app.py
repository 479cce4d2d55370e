"""The FastAPI application factory: routers, error handlers, middleware, lifecycle."""
from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

from modules.api.auth import require_api_or_ui_auth
from modules.api.errors import install_error_handlers
from modules.api.json_guard import JsonBodyGuard
from modules.api.routers import (
    extras,
    generation,
    info,
    internal,
    metrics,
    networks,
    progress,
    resources,
    safety,
    scripts,
    server,
    serverless,
    tasks,
    usage,
    users,
    workers,
)
from modules.metrics import route_label
from modules.services import Services

logger = logging.getLogger("easel.api")


def services_lifespan(services: Services):
    """The app's lifespan: the services start with the server and stop with it (API and worker apps)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        services.start()
        try:
            yield
        finally:
            services.stop()

    return lifespan


def create_app(services: Services) -> FastAPI:
    lifespan = services_lifespan(services)
    # The API docs need credentials when auth is configured (docs/security.md): served by routes of our own.
    app = FastAPI(title="Easel", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, description="AUTOMATIC1111-compatible Stable Diffusion API")
    app.state.services = services
    app.state.users = services.users  # modules/api/auth.py checks every login against it
    install_error_handlers(app)
    _install_middleware(app, services)
    for module in (generation, progress, info, extras, scripts, resources, networks, server, internal, usage, safety,
                   metrics, users, workers):
        app.include_router(module.router)
    app.include_router(users.me_router)
    # Tasks: native task routes and the serverless API
    app.include_router(tasks.router)
    for router in serverless.routers():
        app.include_router(router)

    @app.get("/internal/ping", tags=["internal"])
    def ping() -> dict:
        """Health check: public (no credentials), answers `{}`."""
        return {}

    _install_docs(app)
    return app


def _install_docs(app: FastAPI) -> None:
    """/openapi.json, /docs and /redoc behind the same credentials as the FileBrowser: API Basic credentials or
    the WebUI login when either is configured."""
    docs_auth = [Depends(require_api_or_ui_auth)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=docs_auth)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=docs_auth)
    def swagger():
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI")

    @app.get("/redoc", include_in_schema=False, dependencies=docs_auth)
    def redoc():
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")


class ServicesContext:
    """ASGI middleware: A1111's `shared` facade, read while this app serves a request, is this app's services."""

    def __init__(self, app, services: Services):
        self.app, self.services = app, services

    async def __call__(self, scope, receive, send) -> None:
        from modules import shared

        token = shared.bind_request(self.services)
        try:
            await self.app(scope, receive, send)
        finally:
            shared.unbind_request(token)


def _install_middleware(app: FastAPI, services: Services) -> None:
    cmd_opts = services.cmd_opts
    # Model files and other binaries are not worth compressing (and must keep their Content-Length).
    app.add_middleware(GZipMiddleware, minimum_size=1000,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/octet-stream"))
    app.add_middleware(JsonBodyGuard, max_depth=services.limits.max_json_depth)
    app.add_middleware(ServicesContext, services=services)
    if cmd_opts.cors_allow_origins or cmd_opts.cors_allow_origins_regex:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=(cmd_opts.cors_allow_origins or "").split(",") if cmd_opts.cors_allow_origins else [],
            allow_origin_regex=cmd_opts.cors_allow_origins_regex,
            allow_methods=["*"], allow_headers=["*"], allow_credentials=True,
        )

    @app.middleware("http")
    async def process_time(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        response.headers["X-Process-Time"] = f"{elapsed:.4f}"
        services.metrics.observe_request(request.method, route_label(request), response.status_code, elapsed)
        if cmd_opts.api_log and request.url.path.startswith("/sdapi/"):
            client = request.client.host if request.client else "-"
            logger.info("API %s %s %s %d %.3fs", client, request.method, request.url.path,
                        response.status_code, elapsed)
        if getattr(cmd_opts, "time_log", False):  # the managed service's --time-log: every request's time
            logger.info("time-log %s %s %d %.3fs", request.method, request.url.path, response.status_code, elapsed)
        return response
