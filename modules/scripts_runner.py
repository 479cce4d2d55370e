"""`ScriptRunner`: the scripts of one tab, their flat argument list, A1111's `init_script_args` and hook dispatch.

The flat argument list (A1111's `p.script_args`): index 0 is the selected script (1-based index into
`selectable_scripts`, 0 = none), then each always-on script's slice, then each selectable script's slice.
Slices come from the number of components `ui()` returns; defaults from their `.value`, read by calling `ui()`
inside a throw-away `gr.Blocks` (lazily, once) or inside the real WebUI (`setup_ui()`).

`alwayson_scripts` rule (request field): an entry whose title matches a script of this tab is A1111's
`{"args": [...]}` object. An entry whose title matches no script of this tab *and* whose value is not an object
(the managed-service keys, e.g. `"sd_model_checkpoint": "x.safetensors"`, `"save_dir": "..."`) is a *plain entry*:
never an error here, ignored by `build_args` and returned by `plain_alwayson_entries()` for the caller.
An unknown title with an object value is 422 "Script 'x' not found", as in A1111.
"""
from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from modules.errors import EaselError, InvalidRequestError
from modules.scripts import (
    AlwaysVisible,
    PostprocessBatchListArgs,
    PostprocessImageArgs,
    Script,
    ScriptClassData,
    wrap_call,
)

logger = logging.getLogger(__name__)

_ARG_FIELDS = ("value", "minimum", "maximum", "step")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _default_value(component: Any) -> Any:
    value = getattr(component, "value", None)
    if value is None and type(component).__name__ == "Textbox":
        return ""  # gradio 3 (A1111) gave "" for an empty Textbox; gradio 6 gives None
    return value


def _arg_info(component: Any) -> dict[str, Any]:
    """A1111's ScriptArg: {label, value, minimum, maximum, step, choices}; choices normalised to values."""
    info: dict[str, Any] = {"label": getattr(component, "label", None) or ""}
    for name in _ARG_FIELDS:
        info[name] = _jsonable(_default_value(component) if name == "value" else getattr(component, name, None))
    choices = getattr(component, "choices", None)
    if choices is not None:
        choices = [c[1] if isinstance(c, (tuple, list)) and len(c) == 2 else c for c in choices]
    info["choices"] = _jsonable(choices)
    return info


class ScriptRunner:
    """The scripts of one tab (`is_img2img`), built from loaded script classes (or `Script` subclasses)."""

    def __init__(self, is_img2img: bool, classes: Iterable[ScriptClassData | type[Script]] = ()):
        self.is_img2img = is_img2img
        self.tabname = "img2img" if is_img2img else "txt2img"
        self.scripts: list[Script] = []
        self.selectable_scripts: list[Script] = []
        self.alwayson_scripts: list[Script] = []
        self.infotext_fields: list[tuple[Any, str]] = []
        self.paste_field_names: list[str] = []
        self.inputs: list[Any] = [None]
        self._defaults: list[Any] | None = None
        self._lock = threading.RLock()
        for entry in classes:
            data = entry if isinstance(entry, ScriptClassData) else ScriptClassData(entry, _class_file(entry), "")
            self._add(data)
        self.title_map: dict[str, Script] = {self._title(s).lower(): s for s in self.scripts}

    def _add(self, data: ScriptClassData) -> None:
        script = wrap_call(data.script_class, data.path, "__init__")
        if script is None:
            return
        script.filename = data.path
        script.is_txt2img = not self.is_img2img
        script.is_img2img = self.is_img2img
        script.tabname = self.tabname
        visibility = wrap_call(script.show, data.path, "show", self.is_img2img, default=False)
        if visibility is AlwaysVisible:
            script.alwayson = True
            self.scripts.append(script)
            self.alwayson_scripts.append(script)
        elif visibility:
            script.alwayson = False
            self.scripts.append(script)
            self.selectable_scripts.append(script)

    @staticmethod
    def _title(script: Script) -> str:
        return wrap_call(script.title, script.filename, "title") or str(script.filename)

    # -- argument layout -------------------------------------------------------------------------------------

    def _layout(self, make_controls: Any) -> list[Any]:
        """Call every script's ui() (through `make_controls`), assign slices, record defaults and api_info."""
        self.inputs = [None]
        self.infotext_fields, self.paste_field_names = [], []
        for script in self.alwayson_scripts + self.selectable_scripts:
            script.args_from = script.args_to = len(self.inputs)
            controls = make_controls(script)
            if controls is not None and not isinstance(controls, (list, tuple)):
                logger.error("ui() of script %s returned %r, not a list; ignored", script.filename, type(controls))
                controls = None
            has_ui = controls is not None and type(script).ui is not Script.ui
            script.controls = list(controls or [])
            script.name = self._title(script).lower() if has_ui else None
            script.api_info = None if not has_ui else {
                "name": script.name, "is_alwayson": script.alwayson, "is_img2img": self.is_img2img,
                "args": [_arg_info(c) for c in script.controls]}
            self.infotext_fields += script.infotext_fields or []
            self.paste_field_names += script.paste_field_names or []
            self.inputs += script.controls
            script.args_to = len(self.inputs)
        self._defaults = [0] + [_default_value(c) for c in self.inputs[1:]]
        return self.inputs

    def _ensure_layout(self) -> None:
        if self._defaults is not None:
            return
        with self._lock:
            if self._defaults is not None:
                return
            import gradio as gr

            with gr.Blocks():
                self._layout(lambda s: wrap_call(s.ui, s.filename, "ui", self.is_img2img))

    def setup_ui(self) -> list[Any]:
        """Build the scripts' UI inside the current gradio context: a "Script" dropdown (type="index") and each
        script's components (selectable ones in hidden groups shown by the dropdown). Returns the input
        components in flat-argument order (the dropdown first), for the generate button's inputs."""
        import gradio as gr

        def make(script: Script) -> Any:
            if script.alwayson:
                return wrap_call(script.ui, script.filename, "ui", self.is_img2img)
            with gr.Group(visible=False) as group:
                controls = wrap_call(script.ui, script.filename, "ui", self.is_img2img)
            script.group = group
            return controls

        with self._lock:
            titles = [self._title(s) for s in self.selectable_scripts]
            dropdown = gr.Dropdown(label="Script", choices=["None", *titles], value="None", type="index",
                                   elem_id=f"{self.tabname}_script_list")
            inputs = self._layout(make)
            inputs[0] = dropdown
        groups = [s.group for s in self.selectable_scripts]
        if groups:
            dropdown.change(lambda index: [gr.update(visible=(index == i + 1)) for i in range(len(groups))],
                            inputs=[dropdown], outputs=groups)
        return inputs

    def default_args(self) -> list[Any]:
        """The flat A1111 argument list with every component's default value; index 0 = 0 (no script)."""
        self._ensure_layout()
        assert self._defaults is not None
        try:
            return copy.deepcopy(self._defaults)
        except Exception:
            logger.exception("script defaults cannot be deep-copied; using a shallow copy")
            return list(self._defaults)

    def get_selectable_script(self, name: str) -> Script | None:
        wanted = name.lower()
        return next((s for s in self.selectable_scripts if self._title(s).lower() == wanted), None)

    def plain_alwayson_entries(self, alwayson_scripts: dict[str, Any] | None) -> dict[str, Any]:
        """The `alwayson_scripts` entries that are not script entries (see the module docstring for the rule)."""
        return {k: v for k, v in (alwayson_scripts or {}).items()
                if str(k).lower() not in self.title_map and not isinstance(v, dict)}

    def build_args(self, script_name: str | None, script_args: Sequence[Any] | None,
                   alwayson_scripts: dict[str, Any] | None) -> tuple[Script | None, list[Any]]:
        """A1111's `init_script_args`: (selected script or None, the flat argument list). Raises
        InvalidRequestError (422) for an unknown script or a selectable script in `alwayson_scripts`.
        Deviation: a too-short `script_args` keeps the defaults for the missing trailing args (A1111 shifted
        the following scripts' args into them); extra args beyond the script's UI are dropped, as in A1111."""
        args = self.default_args()
        selected = None
        if script_name:
            selected = self.get_selectable_script(script_name)
            if selected is None:
                raise InvalidRequestError(f"Script '{script_name}' not found", field="script_name")
            given = list(script_args or [])
            for i in range(min(len(given), selected.args_to - selected.args_from)):
                args[selected.args_from + i] = given[i]
            args[0] = self.selectable_scripts.index(selected) + 1
        for title, entry in (alwayson_scripts or {}).items():
            script = self.title_map.get(str(title).lower())
            if script is None:
                if not isinstance(entry, dict):
                    continue  # a plain entry, see plain_alwayson_entries()
                raise InvalidRequestError(f"Script '{title}' not found", field="alwayson_scripts")
            if not script.alwayson:
                raise InvalidRequestError("Cannot have a selectable script in the always on scripts params",
                                          field="alwayson_scripts")
            if not isinstance(entry, dict):
                raise InvalidRequestError(f"alwayson_scripts['{title}'] must be an object like {{\"args\": [...]}}",
                                          field="alwayson_scripts")
            given = entry.get("args")
            if given is None:
                continue
            if not isinstance(given, (list, tuple)):
                raise InvalidRequestError(f"alwayson_scripts['{title}'].args must be a list", field="alwayson_scripts")
            for i in range(min(len(given), script.args_to - script.args_from)):
                args[script.args_from + i] = given[i]
        return selected, args

    # -- hooks ----------------------------------------------------------------------------------------------

    def _args(self, p: Any, args: Sequence[Any] | None) -> Sequence[Any]:
        self._ensure_layout()
        if args is None:
            args = getattr(p, "script_args", None) or self.default_args()
        return args

    def _dispatch(self, hook: str, p: Any, args: Sequence[Any] | None, *lead: Any, **kwargs: Any) -> None:
        """Call `hook` on every always-on script with its own slice; an error is logged and that script skipped,
        except an EaselError: the script refusing the request (a clear 4xx), which propagates."""
        args = self._args(p, args)
        for script in self.alwayson_scripts:
            if hook == "setup" and script.setup_for_ui_only and getattr(p, "is_api", False):
                continue
            own = args[script.args_from:script.args_to]
            wrap_call(getattr(script, hook), script.filename, hook, p, *lead, *own, propagate=(EaselError,),
                      **kwargs)

    def check(self, p: Any, args: Sequence[Any] | None = None) -> None:
        """`Script.check` of every always-on script and of the selected one, each with its own slice."""
        args = self._args(p, args)
        index = args[0] if args else 0
        chosen = [self.selectable_scripts[int(index) - 1]] if index else []
        for script in self.alwayson_scripts + chosen:
            wrap_call(script.check, script.filename, "check", p, *args[script.args_from:script.args_to],
                      propagate=(EaselError,))

    def setup(self, p: Any, args: Sequence[Any] | None = None) -> None:
        self._dispatch("setup", p, args)

    def before_process(self, p: Any, args: Sequence[Any] | None = None) -> None:
        self._dispatch("before_process", p, args)

    def process(self, p: Any, args: Sequence[Any] | None = None) -> None:
        self._dispatch("process", p, args)

    def before_process_batch(self, p: Any, args: Sequence[Any] | None, batch_number: int, prompts: list[str],
                             seeds: list[int], subseeds: list[int]) -> None:
        self._dispatch("before_process_batch", p, args, batch_number=batch_number, prompts=prompts, seeds=seeds,
                       subseeds=subseeds)

    def after_extra_networks_activate(self, p: Any, args: Sequence[Any] | None, **kwargs: Any) -> None:
        self._dispatch("after_extra_networks_activate", p, args, **kwargs)

    def process_batch(self, p: Any, args: Sequence[Any] | None, batch_number: int, prompts: list[str],
                      seeds: list[int], subseeds: list[int]) -> None:
        self._dispatch("process_batch", p, args, batch_number=batch_number, prompts=prompts, seeds=seeds,
                       subseeds=subseeds)

    def process_before_every_sampling(self, p: Any, args: Sequence[Any] | None = None, **kwargs: Any) -> None:
        self._dispatch("process_before_every_sampling", p, args, **kwargs)

    def postprocess_batch(self, p: Any, args: Sequence[Any] | None, images: list[Any], batch_number: int,
                          prompts: list[str] | None = None, seeds: list[int] | None = None,
                          subseeds: list[int] | None = None) -> None:
        self._dispatch("postprocess_batch", p, args, images=images, batch_number=batch_number, prompts=prompts,
                       seeds=seeds, subseeds=subseeds)

    def postprocess_batch_list(self, p: Any, args: Sequence[Any] | None, pp: PostprocessBatchListArgs,
                               **kwargs: Any) -> None:
        self._dispatch("postprocess_batch_list", p, args, pp, **kwargs)

    def postprocess_image(self, p: Any, args: Sequence[Any] | None, pp: PostprocessImageArgs) -> None:
        """Each always-on script may replace `pp.image`; read it back after the call."""
        self._dispatch("postprocess_image", p, args, pp)

    def postprocess(self, p: Any, processed: Any, args: Sequence[Any] | None = None) -> None:
        self._dispatch("postprocess", p, args, processed)

    def before_hr(self, p: Any, args: Sequence[Any] | None = None) -> None:
        self._dispatch("before_hr", p, args)

    def plan(self, p: Any, args: Sequence[Any] | None = None) -> Any:
        """The selected script's `plan(p, *its_args)` (an iterable of generations), or None."""
        args = self._args(p, args)
        index = args[0] if args else 0
        if not index:
            return None
        script = self.selectable_scripts[int(index) - 1]
        return script.plan(p, *args[script.args_from:script.args_to])

    def run(self, p: Any, args: Sequence[Any] | None = None) -> Any:
        """Run the selected script (`args[0]`, 1-based): `script.run(p, *its_args)`. None when no script is
        selected or the script returned None (then the caller runs the normal generation). Errors propagate."""
        args = self._args(p, args)
        index = args[0] if args else 0
        if not index:
            return None
        script = self.selectable_scripts[int(index) - 1]
        return script.run(p, *args[script.args_from:script.args_to])


class ScriptRegistry:
    """What `load_scripts` found: the script classes, load errors and one runner per tab."""

    def __init__(self, scripts_data: list[ScriptClassData], errors: list[tuple[str, str]] | None = None):
        self.scripts_data = scripts_data
        self.errors: list[tuple[str, str]] = errors or []
        self.txt2img = ScriptRunner(False, scripts_data)
        self.img2img = ScriptRunner(True, scripts_data)

    @property
    def runners(self) -> list[ScriptRunner]:
        return [self.txt2img, self.img2img]

    def runner(self, mode: str) -> ScriptRunner:
        """The runner for "txt2img" or "img2img"."""
        return self.img2img if mode == "img2img" else self.txt2img


def api_scripts_list(runners: Iterable[ScriptRunner]) -> dict[str, list[str]]:
    """`GET /sdapi/v1/scripts`: {"txt2img": [names], "img2img": [names]}: lower-cased titles of scripts with a UI."""
    result: dict[str, list[str]] = {"txt2img": [], "img2img": []}
    for runner in runners:
        runner._ensure_layout()
        result[runner.tabname] = [s.name for s in runner.scripts if s.name is not None]
    return result


def api_script_info(runners: Iterable[ScriptRunner]) -> list[dict[str, Any]]:
    """`GET /sdapi/v1/script-info`: [{name, is_alwayson, is_img2img, args: [{label, value, minimum, maximum,
    step, choices}]}] for every script with a UI, txt2img ones first."""
    result = []
    for runner in runners:
        runner._ensure_layout()
        result += [copy.deepcopy(s.api_info) for s in runner.scripts if s.api_info is not None]
    return result


def _class_file(cls: type) -> str:
    import inspect

    try:
        return inspect.getfile(cls)
    except TypeError:
        return f"<{cls.__qualname__}>"
