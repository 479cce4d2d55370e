"""The PNG Info tab: the generation parameters stored in an image, as text and as a table."""
from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

from modules.images import read_infotext
from modules.infotext import parse_generation_parameters


@dataclass
class PngInfoTab:
    image: gr.Image
    infotext: gr.Textbox
    send_txt2img: gr.Button
    send_img2img: gr.Button


def describe(image) -> tuple[str, str]:
    """(infotext, HTML with the parsed parameters and any other text items) of an uploaded image."""
    if image is None:
        return "", ""
    infotext, items = read_infotext(image)
    parts = []
    if infotext:
        params = parse_generation_parameters(infotext)
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in params.items() if k in infotext or k in ("Prompt", "Negative prompt")
                       or k.endswith(("-1", "-2")))
        parts.append(f"<table class='easel-pnginfo'>{rows}</table>")
    for key, value in items.items():
        parts.append(f"<div><b>{html.escape(key)}</b><pre>{html.escape(value)}</pre></div>")
    if not parts:
        parts.append("<p>No generation parameters found in this image.</p>")
    return infotext or "", "".join(parts)


def build_png_info(_services) -> PngInfoTab:
    with gr.Row(elem_id="pnginfo_main"):
        with gr.Column():
            image = gr.Image(label="Source", type="pil", sources=["upload", "clipboard"], elem_id="pnginfo_image",
                             image_mode=None, height=420)
        with gr.Column():
            infotext = gr.Textbox(label="Parameters", lines=6, interactive=False, elem_id="pnginfo_generation_info",
                                  buttons=["copy"])
            details = gr.HTML(elem_id="pnginfo_html")
            with gr.Row():
                send_txt2img = gr.Button("Send to txt2img", elem_id="pnginfo_send_txt2img")
                send_img2img = gr.Button("Send to img2img", elem_id="pnginfo_send_img2img")
    image.change(describe, [image], [infotext, details], api_visibility="private")
    return PngInfoTab(image, infotext, send_txt2img, send_img2img)
