"""The PNG Info tab: the generation parameters stored in an image, as A1111 shows them (the raw text), a readable
table of the same pairs, the image's other text items, and "Send to" buttons."""
from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from modules.images import read_infotext
from modules.infotext import readable_parameters
from modules.ui.icons import tool_button


@dataclass
class PngInfoTab:
    image: gr.Image
    infotext: gr.Textbox
    send_txt2img: gr.Button
    send_img2img: gr.Button
    send_inpaint: gr.Button
    send_extras: gr.Button


def describe_text(infotext: str | None, items: dict) -> str:
    parts = []
    if infotext:
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                       for k, v in readable_parameters(infotext))
        parts.append(f"<table class='easel-pnginfo'>{rows}</table>")
    for key, value in items.items():
        parts.append(f"<div class='easel-pnginfo-item'><b>{html.escape(key)}</b><pre>{html.escape(value)}</pre></div>")
    if not parts:
        parts.append("<p>No generation parameters found in this image.</p>")
    return "".join(parts)


def describe(path: str | None) -> tuple[str, str]:
    """(infotext, HTML with the parameters table and any other text items) of an uploaded image."""
    if not path:
        return "", ""
    try:
        with Image.open(path) as image:
            image.load()
            infotext, items = read_infotext(image)
    except OSError as e:
        return "", f"<p class='easel-error'>Not a readable image: {html.escape(str(e))}</p>"
    return infotext or "", describe_text(infotext, items)


def build_png_info(_services) -> PngInfoTab:
    with gr.Row(elem_id="pnginfo_main", equal_height=False):
        with gr.Column(min_width=320):
            image = gr.Image(label="Source", type="filepath", sources=["upload", "clipboard"], elem_id="pnginfo_image",
                             image_mode=None, height=460)
        with gr.Column(min_width=320):
            infotext = gr.Textbox(label="Parameters", lines=6, interactive=False, elem_id="pnginfo_generation_info",
                                  buttons=["copy"])
            with gr.Row(elem_id="pnginfo_send_buttons"):
                send_txt2img = tool_button("pnginfo_send_txt2img", "paste", "Send the parameters to txt2img",
                                           label="Send to txt2img")
                send_img2img = tool_button("pnginfo_send_img2img", "image", "Send the image and its parameters "
                                           "to img2img", label="Send to img2img")
                send_inpaint = tool_button("pnginfo_send_inpaint", "mask", "Send the image and its parameters "
                                           "to img2img inpaint", label="Send to inpaint")
                send_extras = tool_button("pnginfo_send_extras", "expand", "Send the image to extras",
                                          label="Send to extras")
            details = gr.HTML(elem_id="pnginfo_html")
    image.change(describe, [image], [infotext, details], api_visibility="private")
    return PngInfoTab(image, infotext, send_txt2img, send_img2img, send_inpaint, send_extras)
