"""The "send to" buttons between tabs: a result image with its parameters to img2img, inpaint or Extras, and an
image's infotext from PNG Info (or the image browser) to txt2img / img2img / inpaint / Extras. Parameters go
through the target tab's paste fields (styles inferred; seed and size only with `send_seed` / `send_size`)."""
from __future__ import annotations

import gradio as gr

from modules.ui.outputs import infotext_at, selected_image
from modules.ui.paste import has_parameters, parse

IMG2IMG_SUB_TABS = {"img2img": "img2img_img2img_tab", "inpaint": "img2img_inpaint_tab"}


def editor_value(path: str | None):
    return {"background": path, "layers": [], "composite": path} if path else gr.update()


def _params(services, text: str, target, current: list) -> list:
    if not has_parameters(text):
        return list(current)
    return target.paste.values(parse(services, text), list(current), options=services.options)


def wire_send_buttons(services, tabs: gr.Tabs, built: dict) -> None:
    txt2img, img2img, extras = (built.get(k) for k in ("txt2img", "img2img", "extras"))
    for source in (txt2img, img2img):
        if source is None:
            continue
        panel = source.output
        picked = [panel.gallery, panel.selected, panel.generation_info]
        if img2img is not None:
            targets = img2img.paste.components()
            for kind, button in (("img2img", panel.send_img2img), ("inpaint", panel.send_inpaint)):
                def to_img2img(gallery, index, info_json, *current, _kind=kind):
                    path = selected_image(gallery, index)
                    image = path if _kind == "img2img" else editor_value(path)
                    return [image, gr.Tabs(selected="img2img"), gr.Tabs(selected="img2img_generation"),
                            gr.Tabs(selected=IMG2IMG_SUB_TABS[_kind]), _kind,
                            *_params(services, infotext_at(info_json, index), img2img, list(current))]

                image_target = img2img.inputs.init_img if kind == "img2img" else img2img.inputs.inpaint
                button.click(to_img2img, [*picked, *targets],
                             [image_target, tabs, img2img.tabs, img2img.inputs.tabs, img2img.inputs.mode, *targets],
                             api_visibility="private")
        else:
            panel.send_img2img.visible = panel.send_inpaint.visible = False
        if extras is not None:
            panel.send_extras.click(lambda gallery, index: (selected_image(gallery, index) or gr.update(),
                                                            gr.Tabs(selected="extras"),
                                                            gr.Tabs(selected="extras_single")),
                                    [panel.gallery, panel.selected], [extras.image, tabs, extras.tabs],
                                    api_visibility="private")
        else:
            panel.send_extras.visible = False


def wire_image_text_sender(services, tabs: gr.Tabs, built: dict, image_input, text_input, buttons: dict) -> None:
    """Buttons that send (an image file path and) an infotext: PNG Info, the image browser.
    `buttons` maps "txt2img" / "img2img" / "inpaint" / "extras" to a button."""
    txt2img, img2img, extras = (built.get(k) for k in ("txt2img", "img2img", "extras"))
    for kind, button in buttons.items():
        if kind == "txt2img" and txt2img is not None:
            targets = txt2img.paste.components()
            button.click(lambda text, *current: [gr.Tabs(selected="txt2img"),
                                                 *_params(services, text, txt2img, list(current))],
                         [text_input, *targets], [tabs, *targets], api_visibility="private")
        elif kind in ("img2img", "inpaint") and img2img is not None:
            targets = img2img.paste.components()

            def send(path, text, *current, _kind=kind):
                image = (path or gr.update()) if _kind == "img2img" else editor_value(path)
                return [image, gr.Tabs(selected="img2img"), gr.Tabs(selected="img2img_generation"),
                        gr.Tabs(selected=IMG2IMG_SUB_TABS[_kind]), _kind,
                        *_params(services, text, img2img, list(current))]

            image_target = img2img.inputs.init_img if kind == "img2img" else img2img.inputs.inpaint
            button.click(send, [image_input, text_input, *targets],
                         [image_target, tabs, img2img.tabs, img2img.inputs.tabs, img2img.inputs.mode, *targets],
                         api_visibility="private")
        elif kind == "extras" and extras is not None:
            button.click(lambda path: (path or gr.update(), gr.Tabs(selected="extras"),
                                       gr.Tabs(selected="extras_single")),
                         [image_input], [extras.image, tabs, extras.tabs], api_visibility="private")
        else:
            button.visible = False
