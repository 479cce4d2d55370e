"""FileBrowser extension entry point: registers its REST routes and WebUI tab through the public extension API.

Config comes from `modules.shared` when the app starts: `shared.data_path` (the root every path is confined
to), `shared.cmd_opts.no_filebrowser` / `.filebrowser_readonly`, and model-list refreshes after writes
under `models/` (`shared.refresh_checkpoints()` and `shared.services.vaes.refresh()`).
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

EXTENSION_DIR = Path(__file__).resolve().parent.parent
if str(EXTENSION_DIR) not in sys.path:  # A1111 puts the extension dir on sys.path while loading; be sure
    sys.path.append(str(EXTENSION_DIR))

from filebrowser_lib import FileBrowserConfig  # noqa: E402
from filebrowser_lib.routes import install  # noqa: E402
from filebrowser_lib.ui import ui_tabs  # noqa: E402

from modules import script_callbacks, shared  # noqa: E402
from modules.errors import EaselError  # noqa: E402

log = logging.getLogger(__name__)


def is_enabled(cmd_opts: Any) -> bool:
    """Active unless --no-filebrowser (the standard edition enables it by default)."""
    return not getattr(cmd_opts, "no_filebrowser", False)


def is_readonly(cmd_opts: Any) -> bool:
    return bool(getattr(cmd_opts, "filebrowser_readonly", False))


def refresh_model_lists() -> None:
    """Rescan checkpoints and VAEs after a file under models/ was added, moved or deleted."""
    shared.refresh_checkpoints()
    vaes = getattr(shared.services, "vaes", None)
    if vaes is not None and hasattr(vaes, "refresh"):
        vaes.refresh()


def files_in_use() -> dict[str, str]:
    """The model files the server needs now: the selected and the loaded checkpoint, the selected VAE."""
    services = shared.services
    found: dict[str, str] = {}
    options = getattr(services, "options", None)
    if options is None:
        return found
    selected = options.get("sd_model_checkpoint")
    if selected:
        try:
            found[str(services.checkpoints.get(selected).filename)] = "the selected checkpoint"
        except EaselError:
            pass
    loaded = getattr(getattr(services, "models", None), "loaded", None)
    if loaded is not None:
        path = str(loaded.info.filename)
        found[path] = found.get(path, "the loaded checkpoint")
    vae = options.get("sd_vae")
    if vae not in (None, "", "Automatic", "None"):
        try:
            path = services.vaes.resolve(vae)
            if path is not None:
                found[str(path)] = "the selected VAE"
        except EaselError:
            pass
    return found


def config_from_shared() -> FileBrowserConfig:
    """The FileBrowser settings of the running WebUI (needs `shared.bind(services)` to have run)."""
    if not shared.data_path:
        raise RuntimeError("FileBrowser: shared.data_path is not set; the app was not bound to its services")
    paths = getattr(shared.services, "paths", None)
    hash_cache = getattr(paths, "hash_cache_file", None)
    return FileBrowserConfig(data_dir=Path(shared.data_path), readonly=is_readonly(shared.cmd_opts),
                             on_models_changed=refresh_model_lists,
                             hash_cache_file=Path(hash_cache) if hash_cache else Path(shared.data_path) / "cache"
                             / "hashes.json",
                             protected=getattr(paths, "private_paths", None),
                             server_files=getattr(paths, "server_files", None),
                             allow_config=bool(getattr(shared.cmd_opts, "filebrowser_allow_config", False)),
                             store=_object_store(), in_use=files_in_use)


def _object_store() -> Any:
    """The outputs' object store (`--storage-url oss://` / `s3://`), or None when the outputs are local files."""
    storage = getattr(shared.services, "storage", None)
    return storage if getattr(storage, "is_object_store", False) else None


def on_app_started(_demo: Any, app: Any) -> None:
    """Add the /filebrowser/api routes to the FastAPI app."""
    if not is_enabled(shared.cmd_opts):
        log.info("FileBrowser disabled (--no-filebrowser)")
        return
    config = config_from_shared()
    install(app, config)
    log.info("FileBrowser: /filebrowser/api over %s%s%s", config.data_dir, " (read-only)" if config.readonly else "",
             f"; /filebrowser/api/store over {config.store.describe()}" if config.store is not None else "")


def on_ui_tabs() -> list[tuple[Any, str, str]]:
    """The FileBrowser tab (none when disabled)."""
    if not is_enabled(shared.cmd_opts):
        return []
    store = _object_store()
    return ui_tabs(readonly=is_readonly(shared.cmd_opts), store=store.describe() if store is not None else None)


script_callbacks.on_app_started(on_app_started, name="filebrowser")
script_callbacks.on_ui_tabs(on_ui_tabs, name="filebrowser")
