"""ScriptRunner: default args and slices, A1111's init_script_args (alwayson_scripts), hooks, /script-info data."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import gradio as gr
import pytest

from modules import extensions, scripts
from modules.errors import InvalidRequestError
from modules.extensions import list_extensions, load_scripts
from modules.processing import GenerationRequest, GenerationResult
from modules.scripts import PostprocessImageArgs, ScriptRunner, api_script_info, api_scripts_list

ROOT = Path(__file__).parent / "fixtures" / "extensions"
DEFAULTS = [0, 1.0, True, ", masterpiece", 1, "a", ["x"], "upper", 2]


@pytest.fixture(scope="module")
def registry():
    reg = load_scripts(list_extensions(ROOT, ["disabled_one"]), ROOT)
    yield reg
    extensions.unload_scripts(reg)


@pytest.fixture()
def t2i(registry) -> ScriptRunner:
    return registry.txt2img


def _cls(registry, name):
    return next(d for d in registry.scripts_data if d.script_class.__name__ == name)


def _p(prompt="cat") -> GenerationRequest:
    return GenerationRequest(prompt=prompt, all_prompts=[prompt, prompt + "2"])


def test_default_args_and_slices(t2i):
    assert t2i.default_args() == DEFAULTS
    slices = {s.title(): (s.args_from, s.args_to) for s in t2i.scripts}
    assert slices == {"Root Always": (1, 2), "No UI Always": (2, 2), "Prompt Suffix": (2, 5), "Raising Hook": (5, 7),
                      "Echo Run": (7, 9)}
    args = t2i.default_args()
    args[6].append("y")
    assert t2i.default_args()[6] == ["x"]  # a copy each time


def test_img2img_runner_has_its_own_layout(registry):
    assert registry.img2img.default_args() == DEFAULTS[:7]
    with pytest.raises(InvalidRequestError, match="Script 'Echo Run' not found"):
        registry.img2img.build_args("Echo Run", [], {})


def test_build_args_without_anything_gives_defaults(t2i):
    assert t2i.build_args(None, [], {}) == (None, DEFAULTS)
    assert t2i.build_args("", None, None) == (None, DEFAULTS)


def test_selectable_script_case_insensitive_with_partial_args(t2i):
    script, args = t2i.build_args("ECHO run", ["lower"], {})
    assert script is t2i.title_map["echo run"]
    assert args == [1, *DEFAULTS[1:7], "lower", 2]
    _, args = t2i.build_args("Echo Run", ["lower", 3, "extra"], {})
    assert args[7:] == ["lower", 3] and len(args) == len(DEFAULTS)


def test_unknown_selectable_script_is_422(t2i):
    with pytest.raises(InvalidRequestError) as info:
        t2i.build_args("No Such Script", [], {})
    assert info.value.message == "Script 'No Such Script' not found"
    assert info.value.field == "script_name" and info.value.status_code == 422


def test_alwayson_args_override_defaults_partially(t2i):
    _, args = t2i.build_args(None, [], {"PROMPT SUFFIX": {"args": [True, "!!"]}, "root always": {"args": [2, "x"]},
                                        "Raising Hook": {}})
    assert args == [0, 2, True, "!!", 1, "a", ["x"], "upper", 2]


def test_unknown_alwayson_title_is_422(t2i):
    with pytest.raises(InvalidRequestError) as info:
        t2i.build_args(None, [], {"ControlNet": {"args": []}})
    assert info.value.message == "Script 'ControlNet' not found" and info.value.field == "alwayson_scripts"


def test_selectable_script_in_alwayson_is_422(t2i):
    with pytest.raises(InvalidRequestError) as info:
        t2i.build_args(None, [], {"echo run": {"args": ["lower"]}})
    assert info.value.message == "Cannot have a selectable script in the always on scripts params"


def test_bad_alwayson_values_for_real_scripts_are_422(t2i):
    with pytest.raises(InvalidRequestError, match="must be an object"):
        t2i.build_args(None, [], {"Prompt Suffix": "yes"})
    with pytest.raises(InvalidRequestError, match="args must be a list"):
        t2i.build_args(None, [], {"Prompt Suffix": {"args": "abc"}})


def test_plain_entries_pass_through(t2i):
    body = {"sd_model_checkpoint": "x.safetensors", "save_dir": "/tmp/out", "id_task": 7,
            "prompt suffix": {"args": [False]}}
    script, args = t2i.build_args(None, [], body)
    assert script is None and args[2] is False
    assert t2i.plain_alwayson_entries(body) == {"sd_model_checkpoint": "x.safetensors", "save_dir": "/tmp/out",
                                                "id_task": 7}
    assert t2i.plain_alwayson_entries(None) == {}


def test_hooks_receive_their_slices_and_a_raising_hook_is_skipped(t2i, caplog):
    _, args = t2i.build_args(None, [], {"Prompt Suffix": {"args": [True, "!", 3]}})
    p = _p()
    with caplog.at_level(logging.ERROR):
        t2i.process(p, args)
    assert p.prompt == "cat!!!" and p.all_prompts == ["cat!!!", "cat2!!!"]
    assert p.extra_generation_params == {"No UI args": 0, "Prompt suffix": "!"}
    assert "raiser.py" in caplog.text and "process failed on purpose" in caplog.text


def test_a_raising_hook_does_not_stop_the_scripts_after_it(registry, caplog):
    runner = ScriptRunner(False, [_cls(registry, "Raiser"), _cls(registry, "PromptSuffix")])
    p = _p()
    with caplog.at_level(logging.ERROR):
        runner.process(p, None)  # falls back to p.script_args, then to the defaults
    assert p.prompt == "cat, masterpiece"
    assert "raiser.py" in caplog.text


def test_batch_image_and_final_hooks(t2i):
    p = _p()
    p.script_args = t2i.build_args(None, [], {"Root Always": {"args": [0.5]}})[1]
    t2i.before_process_batch(p, None, batch_number=0, prompts=["cat"], seeds=[1], subseeds=[2])
    t2i.before_process_batch(p, None, batch_number=1, prompts=["cat"], seeds=[2], subseeds=[3])
    assert p.extra_generation_params["suffix batches"] == [0, 1]
    pp = PostprocessImageArgs("img")
    t2i.postprocess_image(p, None, pp)
    assert pp.image == ("replaced", "img", 0.5)
    processed = GenerationResult(images=[], infotexts=[], info={}, seeds=[], subseeds=[])
    t2i.postprocess(p, processed, None)
    assert processed.info["suffix"] == ", masterpiece"
    for hook in ("setup", "before_process", "before_hr", "process_before_every_sampling"):
        getattr(t2i, hook)(p)
    t2i.process_batch(p, None, 0, ["cat"], [1], [2])
    t2i.postprocess_batch(p, None, images=[], batch_number=0)


def test_setup_for_ui_only_is_skipped_for_api_calls():
    calls = []

    class UiOnly(scripts.ScriptBuiltinUI):
        def show(self, is_img2img):
            return scripts.AlwaysVisible

        def setup(self, p, *args):
            calls.append(p.is_api)

    runner = ScriptRunner(False, [UiOnly])
    runner.setup(GenerationRequest(is_api=True), [0])
    runner.setup(GenerationRequest(is_api=False), [0])
    assert calls == [False]


def test_run_selected_script(t2i):
    assert t2i.run(_p(), t2i.default_args()) is None
    _, args = t2i.build_args("echo run", ["lower", 3], {})
    assert t2i.run(_p("CAT"), args) == {"echo": "cat cat cat"}


def test_ui_that_raises_gives_no_args_and_no_listing(caplog):
    class BadUi(scripts.Script):
        def title(self):
            return "Bad UI"

        def show(self, is_img2img):
            return scripts.AlwaysVisible

        def ui(self, is_img2img):
            raise RuntimeError("ui failed on purpose")

    runner = ScriptRunner(True, [BadUi])
    with caplog.at_level(logging.ERROR):
        assert runner.default_args() == [0]
    assert "ui failed on purpose" in caplog.text
    assert api_scripts_list([runner]) == {"txt2img": [], "img2img": []}
    assert runner.build_args(None, [], {"bad ui": {"args": [1]}}) == (None, [0])


def test_api_scripts_list(registry):
    assert api_scripts_list(registry.runners) == {
        "txt2img": ["root always", "prompt suffix", "raising hook", "echo run"],
        "img2img": ["root always", "prompt suffix", "raising hook"]}


def test_api_script_info_shapes(registry):
    info = api_script_info(registry.runners)
    json.dumps(info)
    assert [(i["name"], i["is_img2img"]) for i in info] == [
        ("root always", False), ("prompt suffix", False), ("raising hook", False), ("echo run", False),
        ("root always", True), ("prompt suffix", True), ("raising hook", True)]
    by_name = {i["name"]: i for i in info if not i["is_img2img"]}
    assert by_name["echo run"]["is_alwayson"] is False and by_name["root always"]["is_alwayson"] is True
    assert by_name["root always"]["args"] == [
        {"label": "Root strength", "value": 1.0, "minimum": 0, "maximum": 2, "step": 0.5, "choices": None}]
    mode, repeat = by_name["echo run"]["args"]
    assert mode == {"label": "Mode", "value": "upper", "minimum": None, "maximum": None, "step": None,
                    "choices": ["upper", "lower"]}
    assert (repeat["label"], repeat["value"], repeat["minimum"], repeat["maximum"]) == ("Repeat", 2, 1, 9)
    enabled, suffix, times = by_name["prompt suffix"]["args"]
    assert (enabled["label"], enabled["value"], enabled["choices"]) == ("Enable suffix", True, None)
    assert suffix["value"] == ", masterpiece"
    assert (times["minimum"], times["maximum"], times["step"], times["value"]) == (1, 5, 1, 1)
    pick, many = by_name["raising hook"]["args"]
    assert pick["choices"] == ["a", "b"] and many == {"label": "Many", "value": ["x"], "minimum": None,
                                                      "maximum": None, "step": None, "choices": ["x", "y"]}


def test_setup_ui_in_a_real_blocks_matches_the_api_layout(registry):
    runner = ScriptRunner(False, registry.scripts_data)
    with gr.Blocks():
        inputs = runner.setup_ui()
    assert isinstance(inputs[0], gr.Dropdown) and inputs[0].choices[1][1] == "Echo Run"
    assert len(inputs) == len(DEFAULTS) and runner.default_args() == DEFAULTS
    assert runner.title_map["echo run"].group is not None
