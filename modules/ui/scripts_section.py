"""A tab's scripts section (A1111's): the "Script" dropdown and every script's `ui()` (always-on ones such as the
ControlNet accordion, and the selectable ones), and their values as the request's script fields, so a WebUI
generation carries them exactly as an API request does."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ScriptsSection:
    runner: Any  # modules.scripts_runner.ScriptRunner of the tab
    inputs: list[Any]  # the dropdown, then each script's components (the runner's flat argument order)

    def request_fields(self, values: list[Any]) -> dict[str, Any]:
        """`alwayson_scripts`, `script_name` and `script_args` for the component values (in `inputs` order)."""
        args = list(values)
        fields: dict[str, Any] = {"alwayson_scripts": {
            script.title(): {"args": args[script.args_from:script.args_to]}
            for script in self.runner.alwayson_scripts if script.name is not None}}
        index = int(args[0] or 0) if args else 0
        if index:
            script = self.runner.selectable_scripts[index - 1]
            fields["script_name"] = script.title()
            fields["script_args"] = args[script.args_from:script.args_to]
        return fields


def build_scripts_section(services, tab: str) -> ScriptsSection:
    """Render the scripts of `tab` ("txt2img" / "img2img") in the current gradio block."""
    runner = services.scripts.runner(tab)
    return ScriptsSection(runner, runner.setup_ui())
