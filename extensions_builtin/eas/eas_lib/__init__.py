"""The managed-service (PAI-EAS style) API shim, written against the public A1111 extension API only.

`install(app, config)` adds two pure ASGI middlewares to the FastAPI app handed to `on_app_started`:
`TokenAuthMiddleware` (--api-token) and `ManagedApiMiddleware`, which understands the managed-service keys
inside `alwayson_scripts` of POST /sdapi/v1/txt2img and /img2img (see docs/eas.md).
"""
from __future__ import annotations

from eas_lib.config import EasConfig
from eas_lib.errors import EasError

__all__ = ["EasConfig", "EasError"]
