"""The FileBrowser WebUI tab: one HTML host element; javascript/filebrowser.js (loaded into the page head by the
WebUI, as A1111 loads extension scripts) finds it and renders a file browser talking to the REST API."""
from __future__ import annotations

from html import escape
from typing import Any

from .config import API_PREFIX

TAB_TITLE = "FileBrowser"
TAB_ID = "filebrowser"
HOST_ID = "filebrowser-root"
STORE_HOST_ID = "filebrowser-store-root"
DEFAULT_CHUNK_BYTES = 8 << 20


def host_html(*, readonly: bool, api_prefix: str = API_PREFIX, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
              host_id: str = HOST_ID) -> str:
    """An element the script mounts a browser into; settings travel as data attributes."""
    return (
        f'<div id="{host_id}" class="filebrowser" data-api="{escape(api_prefix)}" '
        f'data-readonly="{"true" if readonly else "false"}" data-chunk="{int(chunk_bytes)}">'
        '<div class="fb-status">Loading the file browser...</div></div>'
    )


def build_tab(*, readonly: bool, store: str | None = None) -> Any:
    """A Gradio Blocks holding the host element, and with an object store (`store`: its description) a second,
    read-only browser over its outputs (Gradio is imported here, not at module import)."""
    import gradio as gr

    with gr.Blocks(analytics_enabled=False) as tab:
        gr.HTML(value=host_html(readonly=readonly), elem_id="filebrowser-host", padding=False)
        if store is not None:
            with gr.Accordion(f"Object store, read-only: {store}", open=False, elem_id="filebrowser-store"):
                gr.HTML(value=host_html(readonly=True, api_prefix=f"{API_PREFIX}/store", host_id=STORE_HOST_ID),
                        elem_id="filebrowser-store-host", padding=False)
    return tab


def ui_tabs(*, readonly: bool, store: str | None = None) -> list[tuple[Any, str, str]]:
    """What an `on_ui_tabs` callback returns: [(blocks, title, elem_id)]."""
    return [(build_tab(readonly=readonly, store=store), TAB_TITLE, TAB_ID)]
