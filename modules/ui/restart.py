"""The WebUI's restart buttons ("Reload UI" in Settings, "Apply and restart UI" in Extensions): the server
restarts in place (modules/restart.py) and the page reloads once it answers again (javascript/ui.js)."""
from __future__ import annotations

import gradio as gr

from modules import restart

WAIT_JS = "() => { window.easelReloadWhenBack && window.easelReloadWhenBack(); return []; }"


def restart_now(before=None) -> str:
    if not restart.is_restartable():
        raise gr.Error("This server was not started by launch.py and cannot restart itself.")
    if before is not None:
        before()
    restart.request_restart()
    return "<p>Restarting the server; the page reloads when it is back...</p>"


def wire_button(button: gr.Button, status: gr.HTML, inputs: list | None = None, before=None) -> None:
    """`before(*inputs)` runs first (e.g. saving the extension choices); then the server restarts."""
    def run(*values):
        return restart_now((lambda: before(*values)) if before is not None else None)

    button.click(run, inputs or [], [status], api_visibility="private").then(None, None, None, js=WAIT_JS)
