"""EAS shim entry point: installs its middlewares on the FastAPI app through `script_callbacks.on_app_started`.

Public extension API only: `shared.cmd_opts` (flags from preload.py), `shared.data_path` / `shared.models_path`,
`shared.opts` (read per request), and Starlette middleware on the app handed to the callback.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

EXTENSION_DIR = Path(__file__).resolve().parent.parent
if str(EXTENSION_DIR) not in sys.path:  # A1111 puts the extension dir on sys.path while loading; be sure
    sys.path.append(str(EXTENSION_DIR))

from eas_lib.auth import TokenAuthMiddleware  # noqa: E402
from eas_lib.config import EasConfig  # noqa: E402
from eas_lib.middleware import ManagedApiMiddleware  # noqa: E402

from modules import script_callbacks, shared  # noqa: E402

log = logging.getLogger("eas")


def _add_middleware(app: Any, cls: type, **kwargs: Any) -> None:
    """`app.add_middleware`, also after the app has served requests (A1111's WebUI mode starts it first)."""
    try:
        app.add_middleware(cls, **kwargs)
    except RuntimeError:  # Starlette refuses once the stack is built; rebuild it, as A1111's setup_middleware does
        app.middleware_stack = None
        app.add_middleware(cls, **kwargs)


def config_from_shared() -> EasConfig:
    """The shim settings of the running WebUI."""
    data_path = getattr(shared, "data_path", None) or getattr(shared.cmd_opts, "data_dir", None)
    if not data_path:
        raise RuntimeError("EAS: no data dir (shared.data_path) is set")
    return EasConfig.from_cmd_opts(shared.cmd_opts, str(data_path), getattr(shared, "models_path", None))


def on_app_started(_demo: Any, app: Any) -> None:
    """Install the managed-service middleware, then (outermost) token auth when --api-token is set."""
    config = config_from_shared()
    _add_middleware(app, ManagedApiMiddleware, config=config)
    if config.token:
        _add_middleware(app, TokenAuthMiddleware, token=config.token, protect_all=not config.webui)
    log.info("EAS: managed-service keys on /sdapi/v1/txt2img and /img2img; save_dir confined to %s (mounts: %s)%s",
             config.data_dir, ", ".join(config.mount_prefixes) or "none",
             "; API token required" if config.token else "")


script_callbacks.on_app_started(on_app_started, name="eas")
