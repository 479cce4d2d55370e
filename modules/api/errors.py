"""One place that maps exceptions to the A1111 error JSON: {error, detail, body, errors}."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modules.errors import EaselError

logger = logging.getLogger(__name__)


def error_json(status: int, error: str, detail, errors: str, headers: dict | None = None, body="") -> JSONResponse:
    return JSONResponse(status_code=status, headers=headers,
                        content={"error": error, "detail": detail, "body": body, "errors": errors})


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        where = ".".join(loc) or "body"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(EaselError)
    async def easel_error(_request: Request, exc: EaselError) -> JSONResponse:
        return error_json(exc.status_code, type(exc).__name__, exc.message, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # `detail` keeps FastAPI's list (what A1111 clients see for validation errors); `errors` names the fields.
        detail = [{k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in exc.errors()]
        return error_json(422, "RequestValidationError", detail, _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_json(exc.status_code, "HTTPException", exc.detail, f"{exc.status_code}: {exc.detail}",
                          headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_json(500, type(exc).__name__, "", str(exc))
