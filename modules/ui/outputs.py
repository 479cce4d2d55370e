"""Result images of the WebUI: the gallery panel of each generating tab (the live preview takes the gallery's place
while a job runs), its tool row (Save, Zip, Open outputs folder, Send to img2img / inpaint / extras, copy the
infotext) and the infotext of the selected image. The gallery shows the task's stored results."""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from modules.services import Services
from modules.ui.icons import tool_button


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
    generation_info: gr.Textbox  # hidden: JSON {"infotexts", "all_seeds", "all_subseeds", "index_of_first_image"}
    selected: gr.State
    save: gr.Button
    save_zip: gr.Button
    open_folder: gr.Button
    send_img2img: gr.Button
    send_inpaint: gr.Button
    send_extras: gr.Button
    copy_info: gr.Button
    download: gr.File


def build_output_panel(tab: str, *, send_img2img: bool = True) -> OutputPanel:
    with gr.Column(elem_id=f"{tab}_results", elem_classes=["easel-results"]):
        gallery = gr.Gallery(label="Output", show_label=False, elem_id=f"{tab}_gallery", columns=2, height=520,
                             format="png", interactive=False, preview=False, object_fit="contain",
                             elem_classes=["easel-gallery"])
        with gr.Row(elem_id=f"{tab}_image_buttons", elem_classes=["easel-image-buttons"]):
            open_folder = tool_button(f"{tab}_open_folder", "folder", "Open images output directory (in the "
                                      "FileBrowser)")
            save = tool_button(f"{tab}_save", "save", "Save the image to a dedicated directory (log/images) and "
                               "download it")
            save_zip = tool_button(f"{tab}_save_zip", "zip", "Save zip archive with images to a dedicated directory "
                                   "(log/images) and download it")
            to_img2img = tool_button(f"{tab}_send_to_img2img", "image", "Send image and generation parameters to "
                                     "img2img tab.", visible=send_img2img)
            to_inpaint = tool_button(f"{tab}_send_to_inpaint", "mask", "Send image and generation parameters to "
                                     "img2img inpaint tab.", visible=send_img2img)
            to_extras = tool_button(f"{tab}_send_to_extras", "expand", "Send image and generation parameters to "
                                    "extras tab.")
            copy_info = tool_button(f"{tab}_copy_info", "copy", "Copy the generation parameters of the selected "
                                    "image")
        download = gr.File(None, file_count="multiple", interactive=False, show_label=False, visible=False,
                           elem_id=f"{tab}_download_files")
        info = gr.Textbox(label="Generation info", lines=4, interactive=False, elem_id=f"{tab}_info",
                          buttons=["copy"], show_label=False, elem_classes=["easel-infotext"])
        html_log = gr.HTML(elem_id=f"{tab}_html_log")
        generation_info = gr.Textbox(visible=False, elem_id=f"{tab}_generation_info")
    selected = gr.State(0)

    def on_select(info_json: str, evt: gr.SelectData) -> tuple[int, str]:
        index = evt.index if isinstance(evt.index, int) else 0
        return index, infotext_at(info_json, index)

    gallery.select(on_select, inputs=[generation_info], outputs=[selected, info], api_visibility="private")
    copy_info.click(None, [info], None, js="(text) => { window.easelCopyText(text || ''); return []; }")
    return OutputPanel(gallery, info, html_log, generation_info, selected, save, save_zip, open_folder, to_img2img,
                       to_inpaint, to_extras, copy_info, download)


def infotext_at(info_json: str | None, index: int | None) -> str:
    infotexts = json.loads(info_json or "{}").get("infotexts", [])
    index = index if isinstance(index, int) and 0 <= index < len(infotexts) else 0
    return infotexts[index] if infotexts else ""


def gallery_paths(gallery_value) -> list[str]:
    paths = []
    for item in gallery_value or []:
        image = item[0] if isinstance(item, (list, tuple)) else item
        if isinstance(image, dict):
            image = image.get("path") or (image.get("image") or {}).get("path")
        if image:
            paths.append(str(image))
    return paths


def selected_image(gallery_value, index: int | None) -> str | None:
    """The file path of the gallery's selected (else first) image."""
    paths = gallery_paths(gallery_value)
    if not paths:
        return None
    index = index if isinstance(index, int) and 0 <= index < len(paths) else 0
    return paths[index]
