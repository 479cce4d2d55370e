"""Builds the Gradio WebUI and mounts it at "/" after the API routes."""
from __future__ import annotations

import html
import logging

import gradio as gr
from starlette.routing import Mount

from modules import script_callbacks
from modules.api.auth import UiRouteGuard, gradio_login
from modules.extensions import javascript_files, stylesheets
from modules.paths import REPO_ROOT
from modules.ui.extras import build_extras
from modules.ui.img2img import build_img2img
from modules.ui.outputs import output_roots
from modules.ui.png_info import build_png_info
from modules.ui.quicksettings import build_quicksettings
from modules.ui.send import wire_send_buttons
from modules.ui.settings import build_settings
from modules.ui.txt2img import build_txt2img

logger = logging.getLogger(__name__)

BUILTIN_TABS = [("txt2img", "txt2img", build_txt2img), ("img2img", "img2img", build_img2img),
                ("Extras", "extras", build_extras), ("PNG Info", "pnginfo", build_png_info)]


def _head(services) -> str:
    """Every javascript/*.js (root first, then each extension's), inlined in name order, as A1111 loads them."""
    parts = []
    for path in javascript_files(services.extensions, REPO_ROOT):
        source = path.read_text(encoding="utf-8")
        parts.append(f"<script data-source=\"{html.escape(path.name)}\">\n{source}\n</script>")
    return "\n".join(parts)


def _css(services) -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in stylesheets(services.extensions, REPO_ROOT))


def hidden_tabs(cmd_opts) -> set[str]:
    """`--always-hide-tabs "Extras,PNG Info"`: titles or ids, compared case-insensitively."""
    spec = getattr(cmd_opts, "always_hide_tabs", "") or ""
    return {name.strip().lower() for name in spec.split(",") if name.strip()}


def _end_sessions(gradio_app, name: str) -> None:
    """A removed user's WebUI login cookies stop working (Gradio keeps them as token -> name)."""
    tokens = getattr(gradio_app, "tokens", {})
    for token in [t for t, user in tokens.items() if user == name]:
        tokens.pop(token, None)


def build_ui(services) -> gr.Blocks:
    script_callbacks.before_ui_callback()
    script_callbacks.ui_settings_callback()  # extensions add their options before the Settings tab is built
    extension_tabs = script_callbacks.ui_tabs_callback()
    hidden = hidden_tabs(services.cmd_opts)

    def shown(title: str, elem_id: str) -> bool:
        return title.lower() not in hidden and elem_id.lower() not in hidden

    built: dict[str, object] = {}
    with gr.Blocks(title="Easel", analytics_enabled=False) as demo:
        build_quicksettings(services, demo)
        with gr.Tabs(elem_id="tabs", overflow_behavior="wrap") as tabs:
            for title, elem_id, build in BUILTIN_TABS:
                if shown(title, elem_id):
                    with gr.Tab(title, id=elem_id, elem_id=f"tab_{elem_id}"):
                        built[elem_id] = build(services)
            for blocks, title, elem_id in extension_tabs:
                if shown(title, elem_id):
                    with gr.Tab(title, id=elem_id, elem_id=f"tab_{elem_id}"):
                        blocks.render()
            if shown("Settings", "settings"):
                with gr.Tab("Settings", id="settings", elem_id="tab_settings"):
                    build_settings(services)
        wire_send_buttons(tabs, built)
    return demo


def mount_ui(app, services, demo: gr.Blocks) -> gr.Blocks:
    users = services.users
    auth = gradio_login(users) if users is not None and users.ui_protected else None
    gr.mount_gradio_app(app, demo, path="/", head=_head(services), css=_css(services), auth=auth,
                        allowed_paths=[str(p) for p in output_roots(services)], show_error=True)
    for route in app.routes:  # the mounted Gradio app, for /internal/* auth (its login cookie)
        if isinstance(route, Mount) and route.path in ("", "/"):
            app.state.gradio_app = route.app
    if users is not None:
        users.on_removed.append(lambda name: _end_sessions(app.state.gradio_app, name))
    app.add_middleware(UiRouteGuard)  # Gradio's heartbeat and stream routes check no login
    return demo
