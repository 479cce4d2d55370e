"""The Extra Networks tabs beside "Generation" (A1111 1.6+): a page of cards per kind with previews, a search box
and sort order (javascript/extraNetworks.js, in the browser), refresh, and per card: click to insert its tag
(or select the checkpoint), show metadata, replace the preview with the selected result image."""
from __future__ import annotations

import html
import json
import logging
import shutil
from dataclasses import dataclass
from urllib.parse import urlencode

import gradio as gr
from PIL import Image

from modules.errors import EaselError
from modules.ui.extra_networks_pages import PAGES, Page, page_by_id, preview_target
from modules.ui.icons import tool_button
from modules.ui.outputs import OutputPanel, selected_image
from modules.ui.routes import PREFIX

logger = logging.getLogger(__name__)
SORT_KEYS = [("name", "Name"), ("path", "Path"), ("date", "Date modified")]


@dataclass
class ExtraNetworksUI:
    pages: dict[str, gr.HTML]


def cards_html(services, page: Page, tab: str) -> str:
    cards = page.cards(services)
    sort = "".join(f'<option value="{k}">{label}</option>' for k, label in SORT_KEYS)
    head = (f'<div class="extra-network-controls"><input type="search" class="extra-network-search" '
            f'placeholder="Search {html.escape(page.title)}..." aria-label="Search">'
            f'<select class="extra-network-sort" aria-label="Sort">{sort}</select>'
            f'<button type="button" class="extra-network-sort-dir" title="Invert sort order">&#8645;</button></div>')
    if not cards:
        folder = {"lora": "models/Lora", "checkpoints": "models/Stable-diffusion", "hypernetworks":
                  "models/hypernetworks", "textual_inversion": "embeddings"}.get(page.id, "")
        return (f'<div class="extra-network-page" data-page="{page.id}" data-tab="{tab}">{head}'
                f'<p class="extra-network-empty">Nothing here yet: put files into <code>{folder}</code> '
                f'(the FileBrowser can upload them) and press refresh.</p></div>')
    items = []
    for card in cards:
        data = card.as_dict()
        preview = ""
        if card.preview is not None:
            query = urlencode({"page": page.id, "name": card.name, "t": int(data["preview_mtime"])})
            preview = f'<img class="preview" loading="lazy" alt="" src="{PREFIX.lstrip("/")}/preview?{query}">'
        attrs = {"data-name": card.name, "data-insert": card.insert, "data-search": card.search_terms.lower(),
                 "data-sort-name": card.label.lower(), "data-sort-path": card.sort_path.lower(),
                 "data-sort-date": f"{card.mtime:020.3f}"}
        attr_text = " ".join(f'{k}="{html.escape(str(v), quote=True)}"' for k, v in attrs.items())
        items.append(
            f'<div class="card" {attr_text} title="{html.escape(card.sort_path)}">{preview}'
            f'<div class="card-buttons"><button type="button" class="card-metadata" title="Show metadata">i</button>'
            f'<button type="button" class="card-replace-preview" title="Replace preview with the selected result '
            f'image">&#9635;</button></div>'
            f'<div class="card-name">{html.escape(card.label)}</div></div>')
    return (f'<div class="extra-network-page" data-page="{page.id}" data-tab="{tab}">{head}'
            f'<div class="extra-network-cards">{"".join(items)}</div></div>')


def replace_preview(services, page: Page, name: str, image_path: str | None, tab: str) -> str:
    """Write the selected result image as the card's preview (`name.preview.png` beside the file)."""
    card = page.card(services, name)
    if card is None:
        raise gr.Error(f"{page.title}: {name} is not installed (anymore).")
    if not image_path:
        raise gr.Error("Replace preview: generate an image (and select it) first.")
    target = preview_target(card.filename)
    with Image.open(image_path) as image:
        if target.suffix.lower() == ".png":
            image.save(target.with_suffix(".png.tmp"), format="PNG")
            shutil.move(target.with_suffix(".png.tmp"), target)
        else:
            image.convert("RGB").save(target)
    logger.info("extra networks: new preview for %s/%s: %s", page.id, name, target)
    return cards_html(services, page, tab)


def build_extra_networks(services, tab: str) -> ExtraNetworksUI:
    """The pages, as tabs of the current gr.Tabs; call inside it, after the "Generation" tab."""
    pages: dict[str, gr.HTML] = {}
    refreshers = {}
    for page in PAGES:
        with gr.Tab(page.title, id=f"{tab}_{page.id}", elem_id=f"{tab}_{page.id}_tab"):
            with gr.Row(elem_classes=["extra-network-toolbar"]):
                refresh = tool_button(f"{tab}_{page.id}_extra_refresh", "refresh", f"Refresh the {page.title} list")
            pages[page.id] = gr.HTML(cards_html(services, page, tab), elem_id=f"{tab}_{page.id}_cards",
                                     elem_classes=["extra-network-cards-host"], padding=False)
            refreshers[page.id] = refresh

    for page_id, refresh in refreshers.items():
        found = page_by_id(page_id)
        assert found is not None  # the ids come from PAGES

        def do_refresh(_page: Page = found):
            _page.refresh(services)
            return cards_html(services, _page, tab)

        refresh.click(do_refresh, None, [pages[page_id]], api_visibility="private")

    return ExtraNetworksUI(pages)


def wire_extra_network_actions(services, tab: str, ui: ExtraNetworksUI, output: OutputPanel) -> None:
    """Replace preview (with the selected result of `output`) and select a checkpoint, from the cards: the browser
    puts JSON {"action", "page", "name"} into a hidden box and presses a hidden button."""
    action = gr.Textbox(elem_id=f"{tab}_extra_networks_action", elem_classes=["easel-hidden"], show_label=False,
                        container=False)
    run = gr.Button("run", elem_id=f"{tab}_extra_networks_run", elem_classes=["easel-hidden"])
    pages = ui.pages
    outputs = list(pages.values())

    def on_action(payload: str, gallery, index):
        try:
            request = json.loads(payload or "{}")
        except json.JSONDecodeError:
            return [gr.skip()] * len(outputs)
        page = page_by_id(str(request.get("page", "")))
        name = str(request.get("name", ""))
        if page is None:
            return [gr.skip()] * len(outputs)
        if request.get("action") == "replace_preview":
            new = replace_preview(services, page, name, selected_image(gallery, index), tab)
            return [new if p == page.id else gr.skip() for p in pages]
        if request.get("action") == "checkpoint":
            try:
                services.options.set("sd_model_checkpoint", name, is_api=False)
                services.options.save()
            except EaselError as e:
                raise gr.Error(e.message) from e
            gr.Info(f"Checkpoint: {services.options.get('sd_model_checkpoint')}")
        return [gr.skip()] * len(outputs)

    run.click(on_action, [action, output.gallery, output.selected], outputs, api_visibility="private")
