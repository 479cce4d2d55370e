"""The "Image Browser" tab (what users of A1111 install the infinite-image-browsing extension for): the images of
the outputs folders, by folder and date folder, newest first, searchable by the prompt text of their infotext,
with the selected image's parameters and "Send to" buttons."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from modules.images import read_infotext
from modules.path_guard import PathGuard
from modules.paths import private_paths
from modules.ui.icons import tool_button

PAGE_SIZE = 48
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
ALL_DATES = "All dates"
FOLDER_OPTIONS = [("txt2img-images", "outdir_txt2img_samples"), ("img2img-images", "outdir_img2img_samples"),
                  ("extras-images", "outdir_extras_samples"), ("txt2img-grids", "outdir_txt2img_grids"),
                  ("img2img-grids", "outdir_img2img_grids"), ("Saved (log/images)", "outdir_save")]


class InfotextCache:
    """Infotext of image files, read once per (path, mtime)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, str]] = {}

    def get(self, path: Path) -> str:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return ""
        key = str(path)
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        try:
            with Image.open(path) as image:
                text, _items = read_infotext(image)
        except OSError:
            text = None
        with self._lock:
            self._items[key] = (mtime, text or "")
        return text or ""


CACHE = InfotextCache()


def folder_of(services, label: str) -> Path | None:
    option = dict(FOLDER_OPTIONS).get(label)
    if option is None:
        return None
    data_dir = services.paths.data_dir
    try:
        return PathGuard(data_dir, protected=private_paths(data_dir)).confine(services.options.get(option),
                                                                              field=option)
    except Exception:  # noqa: BLE001 - an option pointing nowhere shows an empty folder
        return None


def date_folders(root: Path | None) -> list[str]:
    if root is None or not root.is_dir():
        return [ALL_DATES]
    names = sorted((p.name for p in root.iterdir() if p.is_dir()), reverse=True)
    return [ALL_DATES, *names]


def list_images(root: Path | None, date: str | None, query: str) -> list[Path]:
    if root is None or not root.is_dir():
        return []
    base = root / date if date and date != ALL_DATES else root
    if not base.is_dir():
        return []
    files = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        files += [Path(dirpath) / f for f in filenames if f.lower().endswith(IMAGE_SUFFIXES)]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    words = [w for w in (query or "").lower().split() if w]
    if words:
        files = [p for p in files if all(w in CACHE.get(p).lower() for w in words)]
    return files


@dataclass
class ImageBrowserTab:
    gallery: gr.Gallery
    selected_path: gr.Textbox  # hidden: the absolute path, for "Send to"
    infotext: gr.Textbox
    send: dict
    show: Callable[..., Any]  # (folder, date, query, page) -> the outputs' values
    outputs: list
    controls: list  # folder, date, query

    def wire_open(self, tab: gr.Tab) -> None:
        """Show the newest images whenever the tab is opened."""
        show = self.show
        tab.select(lambda f, d, t: show(f, d, t, 0), self.controls, self.outputs, api_visibility="private")


def build_image_browser(services) -> ImageBrowserTab:
    labels = [label for label, _ in FOLDER_OPTIONS]
    with gr.Row(elem_id="image_browser_controls", equal_height=True):
        folder = gr.Dropdown(labels, value=labels[0], label="Folder", elem_id="image_browser_folder", min_width=180)
        date = gr.Dropdown(date_folders(folder_of(services, labels[0])), value=ALL_DATES, label="Date",
                           elem_id="image_browser_date", min_width=140)
        query = gr.Textbox(label="Search prompts", placeholder="words of the prompt (all must match)",
                           elem_id="image_browser_search", scale=3, min_width=200)
        refresh = tool_button("image_browser_refresh", "refresh", "Reload the folder")
    with gr.Row(elem_id="image_browser_main"):
        with gr.Column(scale=3, min_width=360):
            gallery = gr.Gallery(label="Images", show_label=False, elem_id="image_browser_gallery", columns=6,
                                 height=560, interactive=False, preview=False, object_fit="contain", format="png")
            with gr.Row(equal_height=True):
                previous = gr.Button("Previous page", elem_id="image_browser_prev", size="sm", scale=0, min_width=120)
                page_info = gr.Markdown("", elem_id="image_browser_page_info")
                following = gr.Button("Next page", elem_id="image_browser_next", size="sm", scale=0, min_width=120)
        with gr.Column(scale=2, min_width=300):
            file_rel = gr.Textbox(label="File", interactive=False, elem_id="image_browser_file")
            selected_path = gr.Textbox(visible=False)
            infotext = gr.Textbox(label="Generation parameters", lines=8, interactive=False,
                                  elem_id="image_browser_infotext", buttons=["copy"])
            with gr.Row():
                send = {kind: tool_button(f"image_browser_send_{kind}", icon, f"Send the image and its parameters "
                                          f"to {kind}", label=f"Send to {kind}")
                        for kind, icon in (("txt2img", "paste"), ("img2img", "image"), ("inpaint", "mask"),
                                           ("extras", "expand"))}
    page = gr.State(0)
    shown = gr.State([])

    def show(folder_label, date_name, text, page_no):
        files = list_images(folder_of(services, folder_label), date_name, text)
        pages = max(1, -(-len(files) // PAGE_SIZE))
        page_no = min(max(int(page_no or 0), 0), pages - 1)
        chunk = [str(p) for p in files[page_no * PAGE_SIZE:(page_no + 1) * PAGE_SIZE]]
        found = f"{len(files)} image(s)" + (f" matching *{text}*" if text else "")
        return [(p, None) for p in chunk], chunk, page_no, f"Page {page_no + 1} of {pages} · {found}"

    outputs = [gallery, shown, page, page_info]
    for trigger in (refresh.click, query.submit, date.input):
        trigger(lambda f, d, t: show(f, d, t, 0), [folder, date, query], outputs, api_visibility="private")
    previous.click(lambda f, d, t, p: show(f, d, t, p - 1), [folder, date, query, page], outputs,
                   api_visibility="private")
    following.click(lambda f, d, t, p: show(f, d, t, p + 1), [folder, date, query, page], outputs,
                    api_visibility="private")

    def pick_folder(label):
        dates = date_folders(folder_of(services, label))
        return (gr.Dropdown(choices=dates, value=ALL_DATES), *show(label, ALL_DATES, "", 0))

    folder.input(pick_folder, [folder], [date, *outputs], api_visibility="private")

    def on_select(chunk: list, evt: gr.SelectData):
        index = evt.index if isinstance(evt.index, int) else 0
        path = chunk[index] if 0 <= index < len(chunk) else ""
        rel = Path(path).relative_to(services.paths.data_dir).as_posix() if path else ""
        return path, CACHE.get(Path(path)) if path else "", rel

    gallery.select(on_select, [shown], [selected_path, infotext, file_rel], api_visibility="private")
    return ImageBrowserTab(gallery, selected_path, infotext, send, show, outputs, [folder, date, query])
