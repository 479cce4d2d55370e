"""The "send to" buttons between tabs: a result image (with its parameters) to img2img or Extras, and an
image's infotext from PNG Info to txt2img/img2img."""
from __future__ import annotations

import json

import gradio as gr

from modules.ui.outputs import selected_image
from modules.ui.toprow import paste_fields


def _fields(tab) -> list:
    s = tab.sampling
    return [tab.toprow.prompt, tab.toprow.negative_prompt, s.sampler, s.scheduler, s.steps, s.width, s.height,
            s.cfg_scale, s.seed]


def _editor_value(path: str | None):
    return {"background": path, "layers": [], "composite": path} if path else gr.update()


def wire_send_buttons(tabs: gr.Tabs, built: dict) -> None:
    txt2img, img2img, extras, png_info = (built.get(k) for k in ("txt2img", "img2img", "extras", "pnginfo"))
    for source in (txt2img, img2img):
        if source is None:
            continue
        panel = source.output
        if img2img is not None:
            def to_img2img(gallery, index, info_json, *current):
                path = selected_image(gallery, index)
                infotexts = json.loads(info_json or "{}").get("infotexts", [])
                text = infotexts[index] if isinstance(index, int) and index < len(infotexts) else ""
                return [_editor_value(path), gr.Tabs(selected="img2img"), *paste_fields(text, list(current))]

            panel.send_img2img.click(to_img2img, [panel.gallery, panel.selected, panel.generation_info,
                                                  *_fields(img2img)],
                                     [img2img.image, tabs, *_fields(img2img)], api_visibility="private")
        else:
            panel.send_img2img.visible = False
        if extras is not None:
            panel.send_extras.click(lambda gallery, index: (selected_image(gallery, index) or gr.update(),
                                                            gr.Tabs(selected="extras")),
                                    [panel.gallery, panel.selected], [extras.image, tabs], api_visibility="private")
    if png_info is None:
        return
    for target, tab_id, button in ((txt2img, "txt2img", png_info.send_txt2img),
                                   (img2img, "img2img", png_info.send_img2img)):
        if target is None:
            button.visible = False
            continue
        outputs = [tabs, *_fields(target)]
        inputs = [png_info.infotext, *_fields(target)]
        if tab_id == "img2img":
            def send(image, text, *current):
                path = getattr(image, "filename", None)
                return [_editor_value(path) if path else gr.update(), gr.Tabs(selected="img2img"),
                        *paste_fields(text, list(current))]

            button.click(send, [png_info.image, *inputs], [target.image, *outputs], api_visibility="private")
        else:
            button.click(lambda text, *current, _tab=tab_id: [gr.Tabs(selected=_tab), *paste_fields(text, list(current))],
                         inputs, outputs, api_visibility="private")
