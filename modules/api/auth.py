"""HTTP Basic auth for the API (--api-auth "user:pass[,user2:pass2]"), the WebUI login (--gradio-auth), and which
routes are public (docs/security.md)."""
from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

_basic = HTTPBasic(auto_error=False)

PUBLIC_PATHS = ("/internal/ping",)
"""Answered without credentials even when auth is configured (besides the WebUI's login page and static assets,
CORS preflights and signed /storage links, whose signature is the credential)."""
UI_STREAM_PREFIXES = ("/gradio_api/heartbeat/", "/gradio_api/stream/", "/gradio_api/cancel", "/gradio_api/reset",
                      "/gradio_api/runs")
"""WebUI routes that Gradio itself leaves open; with --gradio-auth they need the login (or API credentials)."""


def is_public(path: str) -> bool:
    return path.rstrip("/") in PUBLIC_PATHS


def parse_credentials(spec: str | None) -> dict[str, str]:
    if not spec:
        return {}
    pairs = {}
    for item in spec.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user:
            raise ValueError(f"--api-auth: expected user:password, got {item!r}")
        pairs[user] = password
    return pairs


def require_api_auth(request: Request,
                     credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str | None:
    """Returns the user name, or None when no --api-auth is configured."""
    allowed: dict[str, str] = request.app.state.api_credentials
    if not allowed:
        return None
    challenge = {"WWW-Authenticate": "Basic"}
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated", headers=challenge)
    expected = allowed.get(credentials.username)
    if expected is None or not secrets.compare_digest(credentials.password.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Incorrect username or password", headers=challenge)
    return credentials.username


ApiUser = Annotated[str | None, Depends(require_api_auth)]


def _ui_user(request: Request) -> str | None:
    """The WebUI user from Gradio's login cookie, when `--gradio-auth` protects the UI."""
    gradio_app = getattr(request.app.state, "gradio_app", None)
    cookie_id = getattr(gradio_app, "cookie_id", "")
    token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(
        f"access-token-unsecure-{cookie_id}")
    return gradio_app.tokens.get(token) if token and gradio_app is not None else None


def ui_auth_enabled(request: Request) -> bool:
    gradio_app = getattr(request.app.state, "gradio_app", None)
    return gradio_app is not None and bool(getattr(gradio_app, "auth", None))


def require_api_or_ui_auth(request: Request,
                           credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str | None:
    """For routes both the WebUI and scripts use (FileBrowser, /internal): a WebUI login or API credentials.

    Open only when neither `--api-auth` nor `--gradio-auth` is set.
    """
    if not request.app.state.api_credentials and not ui_auth_enabled(request):
        return None
    if ui_auth_enabled(request):
        user = _ui_user(request)
        if user is not None:
            return user
        if not request.app.state.api_credentials:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated",
                                headers={"WWW-Authenticate": "Basic"})
    return require_api_auth(request, credentials)


def require_ui_auth(request: Request,
                    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str | None:
    """For the WebUI's own routes (/internal/*), as A1111: open unless `--gradio-auth` protects the UI; then the
    WebUI login cookie or the API's Basic credentials."""
    if not ui_auth_enabled(request):
        return None
    user = _ui_user(request)
    if user is not None:
        return user
    if request.app.state.api_credentials and credentials is not None:
        return require_api_auth(request, credentials)
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")


def _basic_from_header(request: Request) -> HTTPBasicCredentials | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return HTTPBasicCredentials(username=user, password=password) if sep else None


class UiRouteGuard:
    """Pure ASGI middleware: the WebUI routes in UI_STREAM_PREFIXES get `require_ui_auth` (Gradio checks none)."""

    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(UI_STREAM_PREFIXES):
            request = Request(scope)
            try:
                require_ui_auth(request, _basic_from_header(request))
            except HTTPException as exc:
                data = json.dumps({"error": "HTTPException", "detail": exc.detail, "body": "",
                                   "errors": f"401: {exc.detail}"}).encode("utf-8")
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(data)).encode("ascii"))]})
                await send({"type": "http.response.body", "body": data})
                return
        await self.app(scope, receive, send)


def require_admin(request: Request,
                  credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str | None:
    """Admin routes (/internal/usage, /internal/safety/*, /metrics): a WebUI login or API credentials, open when
    neither --gradio-auth nor --api-auth is set. Every authenticated caller is an admin until users with roles
    exist (issue 16.1 narrows this one function)."""
    return require_api_or_ui_auth(request, credentials)


AdminUser = Annotated[str | None, Depends(require_admin)]
