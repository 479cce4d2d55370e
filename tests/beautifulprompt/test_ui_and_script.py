"""The WebUI tab, its send-to-tab JavaScript, and the extension script's lazy imports and callbacks."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bprompt.expander_common import BUILTIN_NAME
from bprompt.registry import ExpanderRegistry

from tests.beautifulprompt.conftest import EXTENSION_DIR, TINY_MODEL
from tests.support import ROOT

REQUIRED_IDS = {"beautifulprompt_input", "beautifulprompt_expand", "beautifulprompt_results",
                "beautifulprompt_to_txt2img", "beautifulprompt_to_img2img", "beautifulprompt_model"}


def test_tab_has_controls_and_expand_works(bp_models_dir: Path) -> None:
    from bprompt.ui import build_tab

    tab = build_tab(ExpanderRegistry(bp_models_dir))
    ids = {b.elem_id for b in tab.blocks.values() if getattr(b, "elem_id", None)}
    assert REQUIRED_IDS <= ids
    run = next(f.fn for f in tab.fns.values() if f.name == "run")
    text, radio, info = run("a cat", BUILTIN_NAME, 0.9, 50, 0.95, 1.2, 96, 3, 11)
    lines = text.splitlines()
    assert len(lines) == 3 and all(line.startswith("a cat, ") for line in lines)
    assert radio.value == lines[0] and "11" in info
    refresh = next(f.fn for f in tab.fns.values() if f.name == "refresh_models")
    assert refresh(TINY_MODEL).value == TINY_MODEL
    assert refresh("gone").value == BUILTIN_NAME


_FAKE_DOM = """
// A fake page whose target tab mounts its prompt box only once its tab button is clicked (lazy tabs).
const events = [], clicks = [], timers = [];
let mounted = false;
const area = {value: "", dispatchEvent: (e) => events.push(e.type)};
const tabs = [{textContent: " BeautifulPrompt "}, {textContent: " txt2img "}, {textContent: "img2img"}]
  .map((b) => Object.assign(b, {click: () => { clicks.push(b.textContent.trim()); mounted = true; }}));
global.Event = class { constructor(type, opts) { this.type = type; this.bubbles = opts && opts.bubbles; } };
global.document = {
  querySelector: (sel) => mounted && sel === "#%(tab)s_prompt textarea" ? area : null,
  querySelectorAll: () => tabs,
};
global.setInterval = (fn) => { timers.push(fn); return timers.length; };
global.clearInterval = (id) => { timers[id - 1] = null; };
const send = eval(%(js)s);
send(%(selected)s, "first line\\nsecond line");
for (let i = 0; i < 3; i++) timers.forEach((fn) => fn && fn());
console.log(JSON.stringify({value: area.value, events, clicks}));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the tab's JavaScript")
@pytest.mark.parametrize("tab, selected, expected", [("txt2img", '"a cat, oil painting"', "a cat, oil painting"),
                                                     ("img2img", "null", "first line")])
def test_send_js_fills_prompt_and_switches_tab(tab: str, selected: str, expected: str) -> None:
    from bprompt.ui import send_js

    script = _FAKE_DOM % {"tab": tab, "js": json.dumps(send_js(tab)), "selected": selected}
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=20, check=True).stdout
    result = json.loads(out)
    assert result["value"] == expected
    assert "input" in result["events"]
    assert result["clicks"] == [tab]


def test_script_registers_callbacks_without_heavy_imports(tmp_path: Path) -> None:
    models = tmp_path / "models" / "BeautifulPrompt" / "some-model"
    models.mkdir(parents=True)
    (models / "config.json").write_text("{}")
    code = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("bp", {str(EXTENSION_DIR / "scripts" / "beautifulprompt.py")!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
heavy = [m for m in ("torch", "transformers", "gradio") if m in sys.modules]
assert not heavy, heavy
from fastapi import FastAPI
from modules import script_callbacks, shared
shared.data_path = {str(tmp_path)!r}
app = FastAPI()
script_callbacks.app_started_callback(None, app)
paths = set(app.openapi()["paths"])
assert {{"/beautifulprompt/models", "/beautifulprompt/expand"}} <= paths, paths
assert module.registry.names() == [{BUILTIN_NAME!r}, "some-model"], module.registry.names()
assert len(script_callbacks._callbacks["ui_tabs"]) == 1
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
