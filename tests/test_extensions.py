"""Extension discovery, preload flags, JS/CSS lists and script loading (tests/fixtures/extensions is a fake root)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from modules import cmd_args, extensions, script_callbacks, scripts
from modules.extensions import Extension, javascript_files, list_extensions, load_scripts, run_preloads, stylesheets

ROOT = Path(__file__).parent / "fixtures" / "extensions"
USER = ["bad_preload", "broken_import", "disabled_one", "prompt_suffix", "raising_hook", "selectable_echo",
        "with_preload"]


@pytest.fixture()
def exts() -> list[Extension]:
    return list_extensions(ROOT, disabled=["disabled_one"])


@pytest.fixture()
def registry(exts, caplog):
    with caplog.at_level(logging.ERROR):
        reg = load_scripts(exts, ROOT)
    yield reg
    extensions.unload_scripts(reg)


def test_discovery_order_builtin_first_then_sorted_by_name(exts):
    assert [e.name for e in exts] == ["builtin_base", *USER]
    assert [e.is_builtin for e in exts] == [True] + [False] * len(USER)
    assert all(e.path.is_dir() and e.path.is_absolute() for e in exts)
    assert {e.name for e in exts if not e.enabled} == {"disabled_one"}


def test_missing_dirs_give_no_extensions(tmp_path):
    assert list_extensions(tmp_path, []) == []
    (tmp_path / "extensions" / ".git").mkdir(parents=True)
    (tmp_path / "extensions" / "file.txt").write_text("x")
    assert list_extensions(tmp_path, []) == []


def test_preload_adds_flags_and_a_failing_preload_is_logged(exts, caplog):
    parser = cmd_args.build_parser()
    with caplog.at_level(logging.ERROR):
        failed = run_preloads(exts, parser)
    assert [e.name for e in failed] == ["bad_preload"]
    assert "bad_preload" in caplog.text and "preload failed on purpose" in caplog.text
    assert parser.parse_args(["--my-ext-flag"]).my_ext_flag is True
    assert parser.parse_args([]).my_ext_flag is False
    with pytest.raises(SystemExit):  # the disabled extension's preload did not run
        parser.parse_args(["--disabled-flag"])


def test_preload_flag_clash_is_logged_not_fatal(exts, caplog):
    parser = cmd_args.build_parser()
    parser.add_argument("--my-ext-flag", type=int)
    with caplog.at_level(logging.ERROR):
        failed = run_preloads(exts, parser)
    assert {e.name for e in failed} == {"bad_preload", "with_preload"}


def test_javascript_and_stylesheets_order(exts):
    js = [p.relative_to(ROOT).as_posix() for p in javascript_files(exts, ROOT)]
    assert js == ["javascript/progressbar.js", "javascript/ui.js", "extensions_builtin/builtin_base/javascript/a.js",
                  "extensions_builtin/builtin_base/javascript/b.js", "extensions/with_preload/javascript/z.js"]
    css = [p.relative_to(ROOT).as_posix() for p in stylesheets(exts, ROOT)]
    assert css == ["style.css", "extensions_builtin/builtin_base/style.css", "extensions/with_preload/style.css"]


def test_broken_extension_is_reported_and_skipped(registry, caplog):
    assert [Path(path).name for path, _ in registry.errors] == ["broken.py"]
    assert "broken on purpose" in registry.errors[0][1]
    logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.get_records("setup"))
    assert "broken_import" in logged and "broken.py" in logged and "broken on purpose" in logged
    titles = [s.title() for s in registry.txt2img.scripts]
    assert "Prompt Suffix" in titles and "Echo Run" in titles


def test_loaded_scripts_order_and_disabled_extension(registry):
    assert [d.script_class.__name__ for d in registry.scripts_data] == [
        "RootAlways", "Hidden", "NoUiAlways", "PromptSuffix", "Raiser", "Echo"]
    assert "Disabled Always" not in registry.txt2img.title_map
    assert all(Path(d.path).is_file() for d in registry.scripts_data)
    root_data = registry.scripts_data[0]
    assert Path(root_data.basedir) == ROOT.resolve()
    assert Path(registry.scripts_data[3].basedir).name == "prompt_suffix"


def test_import_styles_and_module_names(registry):
    suffix = next(d for d in registry.scripts_data if d.script_class.__name__ == "PromptSuffix")
    assert suffix.module.__name__ == "easel_extensions.ext_prompt_suffix.scripts.prompt_suffix"
    assert sys.modules[suffix.module.__name__] is suffix.module
    assert Path(suffix.module.BASEDIR).name == "prompt_suffix"  # scripts.basedir() while importing
    assert suffix.module.LABEL == "Prompt suffix"  # from scripts.suffix_helpers import LABEL
    echo = next(d for d in registry.scripts_data if d.script_class.__name__ == "Echo")
    assert echo.module.MODES[0] == ("Upper case", "upper")  # from .echo_util import MODES
    assert str(Path(suffix.basedir)) not in sys.path  # removed again after importing


def test_globals_bound_and_callbacks_registered(registry):
    assert scripts.scripts_txt2img is registry.txt2img and scripts.scripts_img2img is registry.img2img
    assert scripts.scripts_data is registry.scripts_data
    suffix = next(d for d in registry.scripts_data if d.script_class.__name__ == "PromptSuffix")
    script_callbacks.app_started_callback(None, "the-app")
    assert suffix.module.STARTED == ["the-app"]
    extensions.unload_scripts(registry)
    script_callbacks.app_started_callback(None, "again")
    assert suffix.module.STARTED == ["the-app"]


def test_instances_per_tab(registry):
    t2i, i2i = registry.txt2img, registry.img2img
    assert t2i.title_map["prompt suffix"] is not i2i.title_map["prompt suffix"]
    assert t2i.title_map["prompt suffix"].is_txt2img and i2i.title_map["prompt suffix"].is_img2img
    assert [s.title() for s in t2i.selectable_scripts] == ["Echo Run"]
    assert i2i.selectable_scripts == []  # Echo shows only in txt2img
    assert "hidden script" not in t2i.title_map
    assert registry.runner("img2img") is i2i and registry.runner("txt2img") is t2i


def test_reloading_the_same_root_works(exts, registry):
    again = load_scripts(exts, ROOT)
    try:
        assert [d.script_class.__name__ for d in again.scripts_data] == [
            d.script_class.__name__ for d in registry.scripts_data]
    finally:
        extensions.unload_scripts(again)
