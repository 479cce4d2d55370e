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
