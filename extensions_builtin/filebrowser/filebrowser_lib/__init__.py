"""FileBrowser: the logic behind the built-in extension (confinement, listing, tus uploads, routes, UI).

The extension's `scripts/filebrowser.py` imports this package and wires it into the app through the public
extension API (`script_callbacks.on_app_started`, `on_ui_tabs`); tests mount `routes.install(app, config)` directly.
"""
from __future__ import annotations

from .config import FileBrowserConfig
from .errors import ConflictError

__all__ = ["ConflictError", "FileBrowserConfig"]
