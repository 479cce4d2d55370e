"""Builds the Gradio WebUI and mounts it at "/" after the API routes."""
from __future__ import annotations

import html
import json
import logging

import gradio as gr
from starlette.routing import Mount

from modules import localization, script_callbacks
from modules.api.auth import UiRouteGuard, gradio_login
from modules.extensions import javascript_files, stylesheets
from modules.paths import REPO_ROOT
from modules.ui import icons
from modules.ui.extensions_tab import build_extensions_tab
from modules.ui.extras import build_extras
from modules.ui.image_browser import build_image_browser
from modules.ui.img2img import build_img2img
from modules.ui.outputs import output_roots
from modules.ui.png_info import build_png_info
from modules.ui.quicksettings import build_quicksettings
from modules.ui.routes import build_router
from modules.ui.send import wire_image_text_sender, wire_send_buttons
from modules.ui.settings import build_settings
from modules.ui.style_editor import follow_styles
from modules.ui.txt2img import build_txt2img
from modules.ui.watch import Watcher

logger = logging.getLogger(__name__)

BUILTIN_TABS = [("txt2img", "txt2img", build_txt2img), ("img2img", "img2img", build_img2img),
                ("Extras", "extras", build_extras), ("PNG Info", "pnginfo", build_png_info)]
FILEBROWSER_TAB = "filebrowser"


def _head(services) -> str:
    """The tool-button hints, then every javascript/*.js (root first, then each extension's), inlined in name
    order, as A1111 loads them."""
    hints = json.dumps(icons.HINTS, ensure_ascii=False).replace("</", "<\\/")
    parts = [f"<script>window.easelHints = {hints};</script>"]
    for path in javascript_files(services.extensions, REPO_ROOT):
        source = path.read_text(encoding="utf-8")
        parts.append(f"<script data-source=\"{html.escape(path.name)}\">\n{source}\n</script>")
    return "\n".join(parts)


def _css(services) -> str:
    sheets = [path.read_text(encoding="utf-8") for path in stylesheets(services.extensions, REPO_ROOT)]
    return "\n".join([icons.icon_css(), *sheets])


def hidden_tabs(cmd_opts) -> set[str]:
    """`--always-hide-tabs "Extras,PNG Info"`: titles or ids, compared case-insensitively."""
    spec = getattr(cmd_opts, "always_hide_tabs", "") or ""
    return {name.strip().lower() for name in spec.split(",") if name.strip()}


def _end_sessions(gradio_app, name: str) -> None:
    """A removed user's WebUI login cookies stop working (Gradio keeps them as token -> name)."""
    tokens = getattr(gradio_app, "tokens", {})
    for token in [t for t, user in tokens.items() if user == name]:
        tokens.pop(token, None)


def _localization(services, demo: gr.Blocks) -> None:
    """The chosen localization reaches the page on load (javascript/localization.js applies it)."""
    mapping = gr.Textbox(elem_id="easel_localization", elem_classes=["easel-hidden"], show_label=False,
                         container=False)

    def current() -> str:
        return json.dumps(localization.load(services.options.get("localization")), ensure_ascii=False)

    demo.load(current, None, [mapping], api_visibility="private", show_progress="hidden", queue=False).then(
        None, [mapping], None, js="(text) => { window.easelLocalize && window.easelLocalize(text); return []; }")


def build_ui(services) -> gr.Blocks:
    script_callbacks.before_ui_callback()
    script_callbacks.ui_settings_callback()  # extensions add their options before the Settings tab is built
    extension_tabs = script_callbacks.ui_tabs_callback()
    hidden = hidden_tabs(services.cmd_opts)
    icons.HINTS.clear()

    def shown(title: str, elem_id: str) -> bool:
        return title.lower() not in hidden and elem_id.lower() not in hidden

    built: dict[str, object] = {}
    watcher = Watcher()
    with gr.Blocks(title="Easel", analytics_enabled=False, fill_width=True) as demo:
        build_quicksettings(services, watcher)
        with gr.Tabs(elem_id="tabs", overflow_behavior="wrap") as tabs:
            for title, elem_id, build in BUILTIN_TABS:
                if shown(title, elem_id):
                    with gr.Tab(title, id=elem_id, elem_id=f"tab_{elem_id}"):
                        built[elem_id] = build(services)
            if shown("Image Browser", "image_browser"):
                with gr.Tab("Image Browser", id="image_browser", elem_id="tab_image_browser") as browser_tab:
                    built["image_browser"] = browser = build_image_browser(services)
                browser.wire_open(browser_tab)
            for blocks, title, elem_id in extension_tabs:
                if shown(title, elem_id):
                    with gr.Tab(title, id=elem_id, elem_id=f"tab_{elem_id}"):
                        blocks.render()
                    built[elem_id] = blocks
            if shown("Extensions", "extensions"):
                with gr.Tab("Extensions", id="extensions", elem_id="tab_extensions"):
                    build_extensions_tab(services)
            if shown("Settings", "settings"):
                with gr.Tab("Settings", id="settings", elem_id="tab_settings"):
                    build_settings(services, demo)
        _wire_tabs(services, demo, tabs, built, watcher)
        _localization(services, demo)
        watcher.wire(demo)
    return demo


def _wire_tabs(services, demo: gr.Blocks, tabs: gr.Tabs, built: dict, watcher: Watcher) -> None:
    from modules.ui.gallery_tools import wire_gallery_tools
    from modules.ui.hires_panel import checkpoint_choices

    filebrowser = FILEBROWSER_TAB in built
    titles = lambda: [info.title for info in services.checkpoints.list()]  # noqa: E731
    for tab in ("txt2img", "img2img"):
        if tab in built:
            wire_gallery_tools(services, tab, built[tab].output, filebrowser)
            follow_styles(services, watcher, built[tab].toprow)
            watcher.follow(built[tab].refiner.checkpoint, titles)
    if "txt2img" in built:
        watcher.follow(built["txt2img"].hires.checkpoint, lambda: checkpoint_choices(services))
    wire_send_buttons(services, tabs, built)
    png_info = built.get("pnginfo")
    if png_info is not None:
        wire_image_text_sender(services, tabs, built, png_info.image, png_info.infotext,
                               {"txt2img": png_info.send_txt2img, "img2img": png_info.send_img2img,
                                "inpaint": png_info.send_inpaint, "extras": png_info.send_extras})
    browser = built.get("image_browser")
    if browser is not None:
        wire_image_text_sender(services, tabs, built, browser.selected_path, browser.infotext, browser.send)


def mount_ui(app, services, demo: gr.Blocks) -> gr.Blocks:
    users = services.users
    auth = gradio_login(users) if users is not None and users.ui_protected else None
    app.include_router(build_router())  # before the catch-all "/" mount
    roots = [*output_roots(services), services.paths.data_dir / "log"]
    gr.mount_gradio_app(app, demo, path="/", head=_head(services), css=_css(services), auth=auth,
                        allowed_paths=[str(p) for p in roots], show_error=True)
    for route in app.routes:  # the mounted Gradio app, for /internal/* auth (its login cookie)
        if isinstance(route, Mount) and route.path in ("", "/"):
            app.state.gradio_app = route.app
    if users is not None:
        users.on_removed.append(lambda name: _end_sessions(app.state.gradio_app, name))
    app.add_middleware(UiRouteGuard)  # Gradio's heartbeat and stream routes check no login
    return demo
