"""A1111's callback registry (`script_callbacks.on_*`): the public hook points for extensions.

Each `on_<name>(fn)` registers a callback; the server calls `run_<name>(...)` at that point. A callback that
raises is reported with its extension's file name and skipped, so one broken extension cannot stop the
server or a generation.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class CallbackEntry:
    script: str
    callback: Callable[..., Any]
    name: str | None = None


@dataclass
class ImageSaveParams:
    """Passed to on_before_image_saved / on_image_saved (A1111 field names)."""

    image: Any
    p: Any
    filename: str
    pnginfo: dict[str, Any]


@dataclass
class PromptCheckParams:
    """Passed to on_prompt_check callbacks: the prompts of a request before it is queued (`extra_prompts`: the
    hires prompt and the prompts of the selected styles), who sent it, and the request itself (`p`, read-only)."""

    prompt: str
    negative_prompt: str
    extra_prompts: list[str]
    user: str | None
    mode: str
    p: Any = None


_KINDS = ("prompt_check", "app_started", "model_loaded", "ui_tabs", "ui_settings", "before_image_saved", "image_saved",
          "script_unloaded", "before_ui", "infotext_pasted", "cfg_denoiser", "cfg_denoised", "cfg_after_cfg")
_callbacks: dict[str, list[CallbackEntry]] = {kind: [] for kind in _KINDS}


def _caller_file() -> str:
    for frame in inspect.stack()[2:]:
        if frame.filename != __file__:
            return frame.filename
    return "unknown"


def _add(kind: str, callback: Callable[..., Any], name: str | None = None) -> None:
    _callbacks[kind].append(CallbackEntry(_caller_file(), callback, name))


def _run(kind: str, *args: Any) -> list[Any]:
    results = []
    for entry in list(_callbacks[kind]):
        try:
            results.append(entry.callback(*args))
        except Exception:
            logger.exception("error in %s callback from %s; skipped", kind, entry.script)
    return results


def clear_callbacks() -> None:
    for entries in _callbacks.values():
        entries.clear()


def remove_callbacks_for_script(script_file: str) -> None:
    for kind, entries in _callbacks.items():
        _callbacks[kind] = [e for e in entries if e.script != script_file]


def on_app_started(callback: Callable[[Any, Any], None], *, name: str | None = None) -> None:
    """callback(demo: gr.Blocks | None, app: FastAPI) after the API routes exist; add routes here."""
    _add("app_started", callback, name)


def on_model_loaded(callback: Callable[[Any], None], *, name: str | None = None) -> None:
    """callback(sd_model) after a checkpoint is loaded."""
    _add("model_loaded", callback, name)


def on_ui_tabs(callback: Callable[[], list], *, name: str | None = None) -> None:
    """callback() -> [(gr.Blocks, title, elem_id), ...]: extra WebUI tabs."""
    _add("ui_tabs", callback, name)


def on_ui_settings(callback: Callable[[], None], *, name: str | None = None) -> None:
    """callback(): add options with shared.opts.add_option(key, shared.OptionInfo(...))."""
    _add("ui_settings", callback, name)


def on_before_image_saved(callback: Callable[[ImageSaveParams], None], *, name: str | None = None) -> None:
    _add("before_image_saved", callback, name)


def on_image_saved(callback: Callable[[ImageSaveParams], None], *, name: str | None = None) -> None:
    _add("image_saved", callback, name)


def on_script_unloaded(callback: Callable[[], None], *, name: str | None = None) -> None:
    _add("script_unloaded", callback, name)


def on_before_ui(callback: Callable[[], None], *, name: str | None = None) -> None:
    _add("before_ui", callback, name)


def on_infotext_pasted(callback: Callable[[str, dict], None], *, name: str | None = None) -> None:
    _add("infotext_pasted", callback, name)


def on_prompt_check(callback: Callable[[PromptCheckParams], str | None], *, name: str | None = None) -> None:
    """callback(params) -> None to allow the request, or a reason (str) to refuse it with 422 before anything is
    queued (Easel's hook; the prompt guardrail, modules/safety/guardrail.py). A callback that raises is logged and
    skipped, like every callback."""
    _add("prompt_check", callback, name)


def prompt_check_callback(params: PromptCheckParams) -> str | None:
    """The first reason a prompt_check callback gives, or None."""
    for result in _run("prompt_check", params):
        if result:
            return str(result)
    return None


def app_started_callback(demo: Any, app: Any) -> None:
    _run("app_started", demo, app)


def model_loaded_callback(sd_model: Any) -> None:
    _run("model_loaded", sd_model)


def ui_tabs_callback() -> list:
    tabs = []
    for result in _run("ui_tabs"):
        tabs.extend(result or [])
    return tabs


def ui_settings_callback() -> None:
    _run("ui_settings")


def before_image_saved_callback(params: ImageSaveParams) -> None:
    _run("before_image_saved", params)


def image_saved_callback(params: ImageSaveParams) -> None:
    _run("image_saved", params)


def before_ui_callback() -> None:
    _run("before_ui")
