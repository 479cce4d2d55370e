"""The ControlNet accordion of the txt2img and img2img tabs: one tab per unit (Unit 0..N-1, N from the setting
control_net_unit_count), built by the always-on script's `ui()` so the scripts section renders it.

Each unit's controls feed one `gr.State` holding the unit dict, the same dict the API takes in
`alwayson_scripts.controlnet.args` (the image as base64): the WebUI submits it through the same pipeline.
"Preview" runs the preprocessor as `POST /controlnet/detect` does (the same function) and shows the map.
"""
from __future__ import annotations

import base64
import io
from typing import Any

import gradio as gr
from PIL import Image

from lib_controlnet import preprocessors, routes
from lib_controlnet.units import CONTROL_MODES, RESIZE_MODES, Unit
from modules.errors import EaselError

DEFAULT = Unit()


def default_unit() -> dict[str, Any]:
    """The dict of an untouched unit (what the API fills in for units a request leaves out)."""
    return {"enabled": False, "module": "none", "model": "None", "weight": 1.0, "image": None,
            "resize_mode": DEFAULT.resize_mode, "low_vram": False, "processor_res": -1, "threshold_a": -1,
            "threshold_b": -1, "guidance_start": 0.0, "guidance_end": 1.0, "pixel_perfect": False,
            "control_mode": DEFAULT.control_mode, "is_ui": True}


def _b64(image: Image.Image | None) -> str | None:
    if image is None:
        return None
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _slider_update(slider: preprocessors.Slider | None, fallback_label: str) -> dict:
    if slider is None:
        return gr.update(visible=False, label=fallback_label)
    return gr.update(visible=True, label=slider.label, minimum=slider.minimum, maximum=slider.maximum,
                     value=slider.value, step=slider.step)


def build_units(catalog, is_img2img: bool) -> list[Any]:
    """The accordion; returns one gr.State per unit (the script's arguments)."""
    tab = "img2img" if is_img2img else "txt2img"
    count = catalog.unit_count()
    states = []
    with gr.Accordion("ControlNet", open=False, elem_id=f"{tab}_controlnet"):
        with gr.Tabs(elem_id=f"{tab}_controlnet_tabs"):
            for i in range(count):
                with gr.Tab(f"ControlNet Unit {i}", elem_id=f"{tab}_controlnet_unit{i}_tab"):
                    states.append(_build_unit(catalog, f"{tab}_controlnet_unit{i}"))
    return states


def _build_unit(catalog, prefix: str):
    labels = [p.label for p in preprocessors.sorted_all()]
    model_choices = ["None", *catalog.registry.titles()]
    with gr.Row():
        image = gr.Image(label="Control image", type="pil", sources=["upload", "clipboard"], image_mode="RGB",
                         elem_id=f"{prefix}_image", height=260)
        preview = gr.Image(label="Preprocessor preview", type="pil", interactive=False,
                           elem_id=f"{prefix}_preview", height=260)
    with gr.Row():
        enabled = gr.Checkbox(label="Enable", value=False, elem_id=f"{prefix}_enable")
        low_vram = gr.Checkbox(label="Low VRAM", value=False, elem_id=f"{prefix}_low_vram")
        pixel_perfect = gr.Checkbox(label="Pixel Perfect", value=False, elem_id=f"{prefix}_pixel_perfect")
    control_type = gr.Radio(preprocessors.all_tags(), value="All", label="Control Type",
                            elem_id=f"{prefix}_control_type")
    with gr.Row():
        module = gr.Dropdown(labels, value="none", label="Preprocessor", elem_id=f"{prefix}_module")
        model = gr.Dropdown(model_choices, value="None", label="Model", elem_id=f"{prefix}_model")
        refresh = gr.Button("\U0001f504", elem_id=f"{prefix}_refresh", elem_classes=["tool"], scale=0, min_width=40)
        run_preview = gr.Button("Preview", elem_id=f"{prefix}_preview_button", scale=0, min_width=80)
    weight = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Control Weight", elem_id=f"{prefix}_weight")
    with gr.Row():
        start = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="Starting Control Step", elem_id=f"{prefix}_start")
        end = gr.Slider(0.0, 1.0, value=1.0, step=0.01, label="Ending Control Step", elem_id=f"{prefix}_end")
    with gr.Row():
        resolution = gr.Slider(64, 2048, value=512, step=8, label="Preprocessor Resolution", visible=False,
                               elem_id=f"{prefix}_processor_res")
        threshold_a = gr.Slider(0, 255, value=100, label="Threshold A", visible=False, elem_id=f"{prefix}_threshold_a")
        threshold_b = gr.Slider(0, 255, value=200, label="Threshold B", visible=False, elem_id=f"{prefix}_threshold_b")
    control_mode = gr.Radio(list(CONTROL_MODES), value="Balanced", label="Control Mode",
                            elem_id=f"{prefix}_control_mode")
    resize_mode = gr.Radio(list(RESIZE_MODES), value="Crop and Resize", label="Resize Mode",
                           elem_id=f"{prefix}_resize_mode")
    image_b64 = gr.State(None)
    state = gr.State(default_unit())

    image.change(_b64, [image], [image_b64], api_visibility="private")
    controls = [enabled, module, model, weight, image_b64, resize_mode, low_vram, resolution, threshold_a,
                threshold_b, start, end, pixel_perfect, control_mode]

    def to_unit(on, module_label, model_title, w, img, resize, low, res, a, b, g0, g1, perfect, mode) -> dict:
        spec = preprocessors.get(module_label or "none")
        return {"enabled": bool(on), "module": spec.name if spec else "none", "model": model_title or "None",
                "weight": float(w), "image": img, "resize_mode": resize, "low_vram": bool(low),
                "processor_res": float(res) if spec and (spec.resolution or perfect) else -1,
                "threshold_a": float(a) if spec and spec.slider_1 else -1,
                "threshold_b": float(b) if spec and spec.slider_2 else -1,
                "guidance_start": float(g0), "guidance_end": float(max(g0, g1)), "pixel_perfect": bool(perfect),
                "control_mode": mode, "is_ui": True}

    for control in controls:
        control.change(to_unit, controls, [state], api_visibility="private")

    def on_module(label: str):
        spec = preprocessors.get(label or "none")
        return (_slider_update(spec.resolution if spec else None, "Preprocessor Resolution"),
                _slider_update(spec.slider_1 if spec else None, "Threshold A"),
                _slider_update(spec.slider_2 if spec else None, "Threshold B"))

    module.change(on_module, [module], [resolution, threshold_a, threshold_b], api_visibility="private")

    def on_control_type(tag: str):
        found = routes.control_type(catalog, tag or "All")
        return (gr.update(choices=found["module_list"], value=found["default_option"]),
                gr.update(choices=found["model_list"], value=found["default_model"]))

    control_type.change(on_control_type, [control_type], [module, model], api_visibility="private")

    def on_refresh(current: str):
        titles = ["None", *(e.title for e in catalog.registry.refresh())]
        return gr.update(choices=titles, value=current if current in titles else "None")

    refresh.click(on_refresh, [model], [model], api_visibility="private")

    def on_preview(img_b64: str | None, module_label: str, res: float, a: float, b: float):
        if not img_b64:
            raise gr.Error("ControlNet: upload a control image first")
        spec = preprocessors.get(module_label or "none")
        try:
            maps = routes.detect(catalog, spec.name if spec else module_label, [img_b64], [],
                                 res if spec and spec.resolution else -1, a if spec and spec.slider_1 else -1,
                                 b if spec and spec.slider_2 else -1)
        except EaselError as exc:
            raise gr.Error(exc.message) from exc
        return maps[0]

    run_preview.click(on_preview, [image_b64, module, resolution, threshold_a, threshold_b], [preview],
                      api_visibility="private")
    return state
