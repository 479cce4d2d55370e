"""HTTP Basic auth for the API (--api-auth "user:pass[,user2:pass2]")."""
from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

_basic = HTTPBasic(auto_error=False)


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
    return gradio_app.tokens.get(token) if token else None


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
