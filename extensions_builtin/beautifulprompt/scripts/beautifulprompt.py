"""BeautifulPrompt extension entry point: registers the REST routes, the WebUI tab and one setting.

Loaded by the extension loader like any A1111 extension script; uses only `modules.script_callbacks` and
`modules.shared`. Models go in `<data>/models/BeautifulPrompt/<name>/` (Hugging Face folders with config.json).
torch, transformers and gradio are imported only when first needed.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

EXTENSION_DIR = Path(__file__).resolve().parent.parent
if str(EXTENSION_DIR) not in sys.path:
    sys.path.insert(0, str(EXTENSION_DIR))

from bprompt.expander_common import BUILTIN_NAME  # noqa: E402
from bprompt.registry import ExpanderRegistry  # noqa: E402
from bprompt.routes import register_routes  # noqa: E402

from modules import script_callbacks, shared  # noqa: E402

OPTION_DEFAULT_MODEL = "beautifulprompt_default_model"


def models_dir() -> Path | None:
    """`<models>/BeautifulPrompt` (`<data>/models` unless --models-dir), or None before `shared` is bound."""
    if shared.models_path is not None:
        return Path(shared.models_path) / "BeautifulPrompt"
    if shared.data_path is None:
        return None
    return Path(shared.data_path) / "models" / "BeautifulPrompt"


def default_model() -> str | None:
    """The model chosen in settings, if the option exists."""
    opts = shared.opts
    if opts is None:
        return None
    return getattr(opts, OPTION_DEFAULT_MODEL, None)


registry = ExpanderRegistry(models_dir, default_model)


def on_app_started(_demo: Any, app: Any) -> None:
    register_routes(app, registry)


def on_ui_tabs() -> list[tuple[Any, str, str]]:
    from bprompt.ui import build_tab

    return [(build_tab(registry), "BeautifulPrompt", "beautifulprompt")]


def on_ui_settings() -> None:
    shared.opts.add_option(OPTION_DEFAULT_MODEL, shared.OptionInfo(
        BUILTIN_NAME, label="BeautifulPrompt: default model", section="beautifulprompt", choices=registry.names))


def on_script_unloaded() -> None:
    registry.unload()


script_callbacks.on_app_started(on_app_started, name="beautifulprompt")
script_callbacks.on_ui_tabs(on_ui_tabs, name="beautifulprompt")
script_callbacks.on_ui_settings(on_ui_settings, name="beautifulprompt")
script_callbacks.on_script_unloaded(on_script_unloaded, name="beautifulprompt")
