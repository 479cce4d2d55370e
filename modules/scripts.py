"""A1111's public script API (`from modules import scripts`): `Script`, `AlwaysVisible`, the hook argument types.

An extension's `scripts/*.py` defines subclasses of `Script`; the loader (`modules/extensions.py`) instantiates
each once per tab (txt2img, img2img) and puts them in a `ScriptRunner` (`modules/scripts_runner.py`):

- `show(is_img2img)` returns `False` (hidden in this tab), `True` (selectable: listed in the "Script" dropdown,
  run through `run(p, *args)` instead of the normal generation), or `AlwaysVisible` (always-on: its hooks run for
  every generation of the tab).
- `ui(is_img2img)` returns the gradio components whose values become the script's arguments, in order. Each
  script owns the slice `[args_from:args_to]` of the runner's flat argument list; the API fills missing ones with
  the components' default values.
- Always-on scripts receive their slice as `*args` in every hook (`setup`, `before_process`, `process`,
  `before_process_batch`, `process_batch`, `postprocess_batch`, `postprocess_image`, `postprocess`, ...).

Module-level compatibility names bound by the loader: `scripts_txt2img`, `scripts_img2img` (the runners),
`scripts_data` (the loaded classes) and `basedir()` (the extension directory of the script being imported).
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)


class AlwaysVisible:
    """Returned by `Script.show()` to make the script always-on (its hooks run for every generation)."""


@dataclass
class PostprocessImageArgs:
    """Passed to `postprocess_image`; a script may replace `image` (A1111 shape)."""

    image: Any
    index: int = 0


@dataclass
class PostprocessBatchListArgs:
    """Passed to `postprocess_batch_list`; a script may replace or extend `images` (A1111 shape)."""

    images: list[Any]


class Script:
    """Base class of every A1111-style script. Override what you need; every hook defaults to doing nothing."""

    filename: str | None = None
    args_from: int | None = None
    args_to: int | None = None
    alwayson: bool = False
    is_txt2img: bool = False
    is_img2img: bool = False
    tabname: str | None = None
    name: str | None = None  # lower-cased title; set when ui() returned a list (A1111: only those are listed by the API)
    api_info: dict[str, Any] | None = None
    group: Any = None
    create_group: bool = True
    section: str | None = None
    sorting_priority: int = 0
    infotext_fields: list[tuple[Any, str]] | None = None
    """[(component, "Infotext key"), ...]: restores this script's UI from pasted infotext."""
    paste_field_names: list[str] | None = None
    setup_for_ui_only: bool = False
    """When True, `setup()` only runs for WebUI generations, not for API ones (p.is_api)."""
    controls: list[Any] | None = None

    def title(self) -> str:
        """The name shown in the Script dropdown and matched (case-insensitively) by the API."""
        return type(self).__name__

    def show(self, is_img2img: bool) -> bool | type[AlwaysVisible]:
        """False: hidden in this tab; True: selectable; `scripts.AlwaysVisible`: always-on."""
        return True

    def ui(self, is_img2img: bool) -> list[Any]:
        """Create and return the gradio components whose values become this script's args."""
        return []

    def run(self, p: Any, *args: Any) -> Any:
        """Selectable scripts: do the whole generation and return a `Processed` (or None for the normal path)."""
        return None

    def plan(self, p: Any, *args: Any) -> Any:
        """Easel extension for selectable scripts that run several generations: yield (lazily) a copy of `p` for each
        generation `run` will make, with that generation's fields set. The server checks each one like a request
        and counts their images against the image cap before queueing (modules/generation/costs.py). None: unknown
        (the run-time cap still applies)."""
        return None

    def check(self, p: Any, *args: Any) -> None:
        """Easel extension: check this script's arguments where the request is built, before it is queued (the API
        process, torch-free: no model is loaded there). Raise `modules.errors.InvalidRequestError` (or another
        EaselError) naming the field to refuse the request with that status; the default accepts everything.
        A hook that raises an EaselError while the job runs fails the job with that status too (other errors are
        logged and the script skipped, as in A1111)."""

    def setup(self, p: Any, *args: Any) -> None:
        """Called when `p` is created, before anything else (skipped for API calls when `setup_for_ui_only`)."""

    def before_process(self, p: Any, *args: Any) -> None:
        """Called before override_settings are applied and before anything is processed."""

    def process(self, p: Any, *args: Any) -> None:
        """Called after p.all_prompts / p.all_seeds are filled, before the first batch."""

    def before_process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None:
        """Before each batch; kwargs: batch_number, prompts, seeds, subseeds. Prompts may still be edited."""

    def after_extra_networks_activate(self, p: Any, *args: Any, **kwargs: Any) -> None:
        """After LoRAs and other extra networks are applied for a batch."""

    def process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None:
        """Right before sampling a batch; kwargs: batch_number, prompts, seeds, subseeds."""

    def process_before_every_sampling(self, p: Any, *args: Any, **kwargs: Any) -> None:
        """Before every sampling pass (also the hires pass)."""

    def postprocess_batch(self, p: Any, *args: Any, **kwargs: Any) -> None:
        """After a batch is decoded; kwargs: images, batch_number, prompts, seeds, subseeds."""

    def postprocess_batch_list(self, p: Any, pp: PostprocessBatchListArgs, *args: Any, **kwargs: Any) -> None:
        """After a batch is decoded; may replace or extend `pp.images`."""

    def postprocess_image(self, p: Any, pp: PostprocessImageArgs, *args: Any) -> None:
        """For each image before it is saved; may replace `pp.image`."""

    def postprocess(self, p: Any, processed: Any, *args: Any) -> None:
        """After the whole generation, with the result (`Processed`)."""

    def before_hr(self, p: Any, *args: Any) -> None:
        """Before the hires-fix second pass."""

    def describe(self) -> str:
        return ""

    def elem_id(self, item_id: str) -> str:
        """A1111's HTML id helper: `<tab>_script_<title>_<item_id>`."""
        title = re.sub(r"[^a-z_0-9]", "", re.sub(r"\s", "_", self.title().lower()))
        need_tabname = self.show(True) == self.show(False)
        tabkind = "img2img" if self.is_img2img else "txt2img"
        tabname = f"{tabkind}_" if need_tabname else ""
        return f"script_{tabname}{title}_{item_id}"

    def __repr__(self) -> str:
        return f"<Script {self.title()!r} from {self.filename}>"


class ScriptBuiltinUI(Script):
    """Scripts that only back a built-in UI section: their setup() is not run for API calls."""

    setup_for_ui_only = True


@dataclass
class ScriptClassData:
    """One `Script` subclass found by the loader, with the file and extension directory it came from."""

    script_class: type[Script]
    path: str
    basedir: str
    module: ModuleType | None = None


def wrap_call(func: Callable[..., Any], filename: str | None, funcname: str, *args: Any,
              default: Any = None, propagate: tuple[type[BaseException], ...] = (), **kwargs: Any) -> Any:
    """Call a script method; on error log it with the script's file and return `default` (A1111's wrap_call).
    Exceptions of the `propagate` types are raised to the caller instead."""
    try:
        return func(*args, **kwargs)
    except propagate:
        raise
    except Exception:
        logger.exception("Error calling %s of script %s; skipped", funcname, filename)
        return default


# Compatibility globals (A1111 names), bound by modules.extensions.load_scripts.
scripts_data: list[ScriptClassData] = []
scripts_txt2img: Any = None
scripts_img2img: Any = None
current_basedir: str = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def basedir() -> str:
    """The directory of the extension whose script is being imported (A1111: call it at import time)."""
    return current_basedir


_RUNNER_NAMES = ("ScriptRunner", "ScriptRegistry", "api_scripts_list", "api_script_info")


def __getattr__(name: str) -> Any:
    """`scripts.ScriptRunner` & co. live in modules/scripts_runner.py (imported lazily: it imports this module)."""
    if name in _RUNNER_NAMES:
        from modules import scripts_runner

        return getattr(scripts_runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
