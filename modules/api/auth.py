"""Who is calling: one login for the API, the WebUI and the FileBrowser (docs/users.md, docs/security.md).

Credentials: HTTP Basic (user:password), `Authorization: Bearer <token>`, the managed service's bare
`Authorization: <token>` (or a `Token: <token>` header), or the WebUI's login cookie. They are checked against the
user directory (modules/users: `--users-file`, `--api-auth` and `--gradio-auth` pairs) on every request, so a
revoked token or a removed user stops working at once. Failed logins are throttled (429 with Retry-After).

Which routes need a login: the API ones with `--users-file` or `--api-auth`; the WebUI and its /internal routes
with `--users-file` or `--gradio-auth`; the FileBrowser and the API docs with any of them; admin routes need the
admin role. With none of these flags everything is open, as before.
"""
from __future__ import annotations

import base64
import binascii
import contextvars
import json
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from modules.users.directory import AuthenticationFailed, UserDirectory
from modules.users.model import User
from modules.users.throttle import LockedOut

_basic = HTTPBasic(auto_error=False)

PUBLIC_PATHS = ("/internal/ping",)
"""Answered without credentials even when auth is configured (besides the WebUI's login page and static assets,
CORS preflights and signed /storage links, whose signature is the credential)."""
UI_STREAM_PREFIXES = ("/gradio_api/heartbeat/", "/gradio_api/stream/", "/gradio_api/cancel", "/gradio_api/reset",
                      "/gradio_api/runs")
"""WebUI routes that Gradio itself leaves open; with a WebUI login they need it (or API credentials)."""
CHALLENGE = {"WWW-Authenticate": "Basic"}
client_address: contextvars.ContextVar[str | None] = contextvars.ContextVar("easel_client_address", default=None)
"""The caller's address while a WebUI request runs (the Gradio login callback gets no request)."""


def is_public(path: str) -> bool:
    return path.rstrip("/") in PUBLIC_PATHS


def directory(request: Request) -> UserDirectory | None:
    """The app's user directory (app.state.users); None for bare apps without one (everything open)."""
    return getattr(request.app.state, "users", None)


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _ui_user_name(request: Request) -> str | None:
    """The WebUI user from Gradio's login cookie, when a WebUI login is configured."""
    gradio_app = getattr(request.app.state, "gradio_app", None)
    cookie_id = getattr(gradio_app, "cookie_id", "")
    token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(
        f"access-token-unsecure-{cookie_id}")
    return gradio_app.tokens.get(token) if token and gradio_app is not None else None


def locked_out_error(exc: LockedOut) -> HTTPException:
    what = exc.key.replace("user:", "user ", 1).replace("addr:", "address ", 1)
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                         f"too many failed logins for {what}; try again in {exc.retry_after} s",
                         headers={"Retry-After": str(exc.retry_after)})


def _from_headers(request: Request, users: UserDirectory,
                  credentials: HTTPBasicCredentials | None) -> User | None:
    """The user the request's headers name (None when it carries no credentials); 401/429 for bad ones."""
    address = _address(request)
    header = request.headers.get("authorization", "").strip()
    scheme, _, rest = header.partition(" ")
    try:
        if credentials is not None:
            try:
                return users.login(credentials.username, credentials.password, address)
            except AuthenticationFailed:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Incorrect username or password",
                                    headers=CHALLENGE) from None
        token = rest.strip() if scheme.lower() == "bearer" else (header if header and not rest else None)
        token = token or request.headers.get("token", "").strip() or None
        if token is None:
            return None
        try:
            return users.token_user(token, address)
        except AuthenticationFailed:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid or revoked API token",
                                headers=CHALLENGE) from None
    except LockedOut as exc:
        raise locked_out_error(exc) from None


def authenticated_user(request: Request, credentials: HTTPBasicCredentials | None, *,
                       cookie: bool = True) -> User | None:
    """The caller (cached on the request), or None when the request carries no credentials at all."""
    cached = getattr(request.state, "easel_caller", None)
    if cached is not None:
        return cached
    users = directory(request)
    if users is None:
        return None
    user = None
    if cookie:
        user = users.get(_ui_user_name(request))
    if user is None:
        user = _from_headers(request, users, credentials)
    if user is not None:
        user = _acting_as(request, users, user)
        request.state.easel_caller = user
    return user


def _acting_as(request: Request, users: UserDirectory, user: User) -> User:
    """The managed service's `uid` (set by the EAS shim) names the user an admin's request is made for."""
    uid = getattr(request.state, "easel_uid", None)
    if uid and user.is_admin:
        return users.get(uid) or user
    return user


def _require(request: Request, credentials: HTTPBasicCredentials | None, protected: bool) -> str | None:
    if not protected:
        return None
    user = authenticated_user(request, credentials)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated", headers=CHALLENGE)
    return user.name


def require_api_auth(request: Request,
                     credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str | None:
    """API routes: the user name, or None when the API needs no login."""
    users = directory(request)
    return _require(request, credentials, users is not None and users.api_protected)


ApiUser = Annotated[str | None, Depends(require_api_auth)]


def ui_auth_enabled(request: Request) -> bool:
    users = directory(request)
    return users is not None and users.ui_protected


def require_api_or_ui_auth(request: Request,
                           credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str | None:
    """Routes both the WebUI and scripts use (FileBrowser, API docs): open only when no login is configured."""
    users = directory(request)
    return _require(request, credentials, users is not None and users.enabled)


def require_ui_auth(request: Request,
                    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str | None:
    """The WebUI's own routes (/internal/*), as A1111: open unless the WebUI has a login."""
    return _require(request, credentials, ui_auth_enabled(request))


def task_owner_filter(request: Request) -> str | None:
    """Whose tasks the caller may see: their own name, or None for all (an admin, or no login configured).
    Call after one of the require_* dependencies ran."""
    user: User | None = getattr(request.state, "easel_caller", None)
    return None if user is None or user.is_admin else user.name


def _api_viewer(request: Request, _user: ApiUser) -> str | None:
    return task_owner_filter(request)


def _ui_viewer(request: Request, _user: Annotated[str | None, Depends(require_ui_auth)]) -> str | None:
    return task_owner_filter(request)


TaskViewer = Annotated[str | None, Depends(_api_viewer)]
"""API routes reading tasks: the owner to filter by (None: every task is visible)."""
UiTaskViewer = Annotated[str | None, Depends(_ui_viewer)]


def require_admin(request: Request,
                  credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str | None:
    """Admin routes (/internal/users, /internal/usage, /internal/safety/*, /metrics): the admin role; open when no
    login is configured."""
    name = require_api_or_ui_auth(request, credentials)
    user: User | None = getattr(request.state, "easel_caller", None)
    if user is not None and not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"user {user.name!r} is not an admin (role {user.role})")
    return name


AdminUser = Annotated[str | None, Depends(require_admin)]


def gradio_login(users: UserDirectory) -> Callable[[str, str], bool]:
    """Gradio's `auth` callback: the same directory and throttle as the API (429 while locked out)."""

    def check(name: str, password: str) -> bool:
        try:
            users.login(name, password, client_address.get())
        except AuthenticationFailed:
            return False
        except LockedOut as exc:
            raise locked_out_error(exc) from None
        return True

    return check


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


async def _send_error(send: Callable, exc: HTTPException) -> None:
    data = json.dumps({"error": "HTTPException", "detail": exc.detail, "body": "",
                       "errors": f"{exc.status_code}: {exc.detail}"}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode("ascii"))]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (exc.headers or {}).items()
                if k.lower() != "www-authenticate"]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class UiRouteGuard:
    """Pure ASGI middleware: the WebUI routes in UI_STREAM_PREFIXES get `require_ui_auth` (Gradio checks none);
    every request's client address is kept for the login throttle."""

    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = client_address.set(client[0] if client else None)
        try:
            if scope.get("path", "").startswith(UI_STREAM_PREFIXES):
                request = Request(scope)
                try:
                    require_ui_auth(request, _basic_from_header(request))
                except HTTPException as exc:
                    await _send_error(send, exc)
                    return
            await self.app(scope, receive, send)
        finally:
            client_address.reset(token)
