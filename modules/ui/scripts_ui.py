"""The scripts of a tab in the WebUI: the always-on scripts' UIs and the "Script" dropdown with each selectable
script's UI (built by `ScriptRunner.setup_ui`), turned back into the A1111 request fields `script_name`,
`script_args` and `alwayson_scripts` -- the same body an API client sends."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image


@dataclass
class ScriptsControls:
    runner: Any  # modules.scripts_runner.ScriptRunner
    inputs: list[Any]  # flat A1111 order, the "Script" dropdown first

    def body(self, values: list[Any]) -> dict[str, Any]:
        runner = self.runner
        fields: dict[str, Any] = {}
        index = values[0] if values else 0
        if isinstance(index, int) and 0 < index <= len(runner.selectable_scripts):
            script = runner.selectable_scripts[index - 1]
            fields["script_name"] = runner._title(script)
            fields["script_args"] = [jsonable(v) for v in values[script.args_from:script.args_to]]
        alwayson = {runner._title(s): {"args": [jsonable(v) for v in values[s.args_from:s.args_to]]}
                    for s in runner.alwayson_scripts if s.args_to > s.args_from}
        if alwayson:
            fields["alwayson_scripts"] = alwayson
        return fields


def jsonable(value: Any) -> Any:
    """A script UI value as the API takes it: images become base64 PNG (as A1111 extensions accept them)."""
    if isinstance(value, Image.Image):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode("ascii")
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy image
        return jsonable(Image.fromarray(value))
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def build_scripts(services, tab: str) -> ScriptsControls:
    runner = services.scripts.runner(tab)
    with gr.Column(elem_id=f"{tab}_script_container", elem_classes=["easel-scripts"]):
        inputs = runner.setup_ui()
    return ScriptsControls(runner, inputs)
