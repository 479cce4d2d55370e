"""Token auth as the managed service does it: --api-token makes API routes require `Authorization: <token>`.

Accepted spellings: `Authorization: <token>`, `Authorization: Bearer <token>`, or a `Token: <token>` header (the
serverless API's header). A matching Authorization header is removed before the request goes on, so with
--api-auth as well the client sends both: `Token: <token>` (or a second Authorization header) plus its
`Authorization: Basic ...`, and both are checked. Missing or wrong token: 401 in A1111's error shape.
CORS preflights (OPTIONS) and the public health check (`/internal/ping`, `modules.api.auth.PUBLIC_PATHS`)
pass. With the WebUI mounted, only API paths are protected (its pages and Gradio routes are not: use
--gradio-auth for those); with --nowebui every path is.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable

from modules.api.auth import is_public

API_PREFIXES = ("/sdapi/", "/internal/", "/filebrowser/", "/beautifulprompt/", "/controlnet/", "/docs", "/redoc",
                "/openapi.json", "/txt2img", "/img2img", "/extra_images", "/models", "/tasks", "/options",
                "/restart", "/initialize", "/del/", "/batch_update_sd_resource", "/list/", "/api/")
# Not "/login": with the WebUI that is Gradio's login form (public, like its page); Easel has no API route there.


class TokenAuthMiddleware:
    """Pure ASGI middleware; the outermost one, so nothing runs for an unauthenticated API call."""

    def __init__(self, app: Callable[..., Awaitable[None]], token: str, protect_all: bool):
        self.app = app
        self.token = token.encode("utf-8")
        self.protect_all = protect_all

    def _protected(self, path: str) -> bool:
        return self.protect_all or path.startswith(API_PREFIXES)

    def _matches(self, value: bytes) -> bool:
        candidate = value.strip()
        if candidate[:7].lower() == b"bearer ":
            candidate = candidate[7:].strip()
        return secrets.compare_digest(candidate, self.token)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") == "OPTIONS" or is_public(path) or not self._protected(path):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        matched = [i for i, (k, v) in enumerate(headers) if k.lower() in (b"authorization", b"token") and self._matches(v)]
        if not matched:
            await _unauthorized(send)
            return
        kept = [h for i, h in enumerate(headers) if i not in matched]
        await self.app(dict(scope, headers=kept), receive, send)


async def _unauthorized(send: Callable) -> None:
    detail = "Invalid or missing API token"
    data = json.dumps({"error": "HTTPException", "detail": detail, "body": "", "errors": f"401: {detail}"}).encode()
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            (b"www-authenticate", b"Bearer")]})
    await send({"type": "http.response.body", "body": data})
