"""Builds the Gradio WebUI and mounts it at "/" after the API routes."""
from __future__ import annotations

import html
import logging

import gradio as gr

from modules import script_callbacks
from modules.extensions import javascript_files, stylesheets
from modules.paths import REPO_ROOT
from modules.ui.txt2img import build_txt2img

logger = logging.getLogger(__name__)


def _head(services) -> str:
    """Every javascript/*.js (root first, then each extension's), inlined in name order, as A1111 loads them."""
    parts = []
    for path in javascript_files(services.extensions, REPO_ROOT):
        source = path.read_text(encoding="utf-8")
        parts.append(f"<script data-source=\"{html.escape(path.name)}\">\n{source}\n</script>")
    return "\n".join(parts)


def _css(services) -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in stylesheets(services.extensions, REPO_ROOT))


def build_ui(services) -> gr.Blocks:
    script_callbacks.before_ui_callback()
    extension_tabs = script_callbacks.ui_tabs_callback()
    with gr.Blocks(title="Easel") as demo:
        with gr.Tab("txt2img", id="txt2img"):
            build_txt2img(services)
        for blocks, title, elem_id in extension_tabs:
            with gr.Tab(title, id=elem_id):
                blocks.render()
    return demo


def mount_ui(app, services, demo: gr.Blocks) -> gr.Blocks:
    gr.mount_gradio_app(app, demo, path="/", head=_head(services), css=_css(services))
    return demo
