"""Result images of the WebUI: written to the outputs folders (A1111's samples_save) with their infotext,
and the gallery panel under each generating tab (infotext of the selected image, "send to" buttons)."""
from __future__ import annotations

import json
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

_counter_lock = threading.Lock()
_OUTDIR_OPTION = {"txt2img": "outdir_txt2img_samples", "img2img": "outdir_img2img_samples",
                  "extras": "outdir_extras_samples"}


def output_roots(services) -> list[Path]:
    """Folders the gallery may serve files from (given to Gradio as allowed paths)."""
    return [services.paths.data_dir / "outputs", ui_temp_dir()]


def ui_temp_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "easel-ui"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _folder(services, mode: str) -> Path:
    opts = services.options
    if not opts.get("samples_save"):
        return Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=ui_temp_dir()))
    configured = opts.get("outdir_samples") or opts.get(_OUTDIR_OPTION.get(mode, "outdir_txt2img_samples"))
    folder = Path(configured)
    if not folder.is_absolute():
        folder = services.paths.data_dir / folder
    if opts.get("save_to_dirs"):
        folder = folder / time.strftime("%Y-%m-%d")
    return folder


def save_images(services, mode: str, encoded: list[bytes], seeds: list[int], fmt: str) -> list[str]:
    """Write encoded images as NNNNN-seed.ext (next free number in the folder); return their paths."""
    folder = _folder(services, mode)
    folder.mkdir(parents=True, exist_ok=True)
    ext = "jpg" if fmt == "jpeg" else fmt
    paths = []
    with _counter_lock:
        numbers = [int(p.name[:5]) for p in folder.iterdir() if p.name[:5].isdigit()]
        number = max(numbers, default=-1) + 1
        for i, data in enumerate(encoded):
            seed = seeds[i] if i < len(seeds) else 0
            path = folder / f"{number + i:05d}-{seed}.{ext}"
            path.write_bytes(data)
            paths.append(str(path))
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
