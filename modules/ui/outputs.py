"""Result images of the WebUI: the gallery panel under each generating tab (infotext of the selected image,
"send to" buttons), showing the stored results of the task (the worker also saved them to the outputs folders)."""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from modules.services import Services


def output_roots(services: Services) -> list[Path]:
    """Folders the gallery may serve files from (given to Gradio as allowed paths)."""
    return [services.paths.data_dir / "outputs", ui_temp_dir()]


def ui_temp_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "easel-ui"
    path.mkdir(parents=True, exist_ok=True)
    return path


def gallery_files(services: Services, keys: list[str]) -> list[str]:
    """Local files for stored results: the stored file itself when the storage is local, else a temporary copy."""
    paths = []
    for key in keys:
        local = services.storage.local_path(key)
        if local is None:
            folder = Path(tempfile.mkdtemp(prefix="result-", dir=ui_temp_dir()))
            local = folder / key.rsplit("/", 1)[-1]
            local.write_bytes(services.storage.read(key))
        paths.append(str(local))
    return paths


@dataclass
class OutputPanel:
    gallery: gr.Gallery
    info: gr.Textbox
    html_log: gr.HTML
    generation_info: gr.Textbox  # hidden: JSON {"infotexts": [...], "seeds": [...], "seed": first}
    selected: gr.State
    send_img2img: gr.Button
    send_extras: gr.Button


def build_output_panel(tab: str, *, send_img2img: bool = True) -> OutputPanel:
    with gr.Column(elem_id=f"{tab}_results", elem_classes=["easel-results"]):
        gallery = gr.Gallery(label="Output", elem_id=f"{tab}_gallery", columns=2, height=480, format="png",
                             interactive=False, preview=False)
        with gr.Row(elem_id=f"{tab}_send_row"):
            to_img2img = gr.Button("\U0001f5bc\ufe0f Send to img2img", size="sm", elem_id=f"{tab}_send_to_img2img",
                                   visible=send_img2img)
            to_extras = gr.Button("\U0001f4d0 Send to extras", size="sm", elem_id=f"{tab}_send_to_extras")
        info = gr.Textbox(label="Generation info", lines=4, interactive=False, elem_id=f"{tab}_info",
                          buttons=["copy"])
        html_log = gr.HTML(elem_id=f"{tab}_html_log")
        generation_info = gr.Textbox(visible=False, elem_id=f"{tab}_generation_info")
    selected = gr.State(0)

    def on_select(info_json: str, evt: gr.SelectData) -> tuple[int, str]:
        infotexts = json.loads(info_json or "{}").get("infotexts", [])
        index = evt.index if isinstance(evt.index, int) else 0
        return index, infotexts[index] if index < len(infotexts) else ""

    gallery.select(on_select, inputs=[generation_info], outputs=[selected, info], api_visibility="private")
    return OutputPanel(gallery, info, html_log, generation_info, selected, to_img2img, to_extras)


def selected_image(gallery_value, index: int | None) -> str | None:
    """The file path of the gallery's selected (else first) image."""
    if not gallery_value:
        return None
    index = index if isinstance(index, int) and 0 <= index < len(gallery_value) else 0
    item = gallery_value[index]
    image = item[0] if isinstance(item, (list, tuple)) else item
    if isinstance(image, dict):
        image = image.get("path") or image.get("image", {}).get("path")
    return str(image) if image else None
