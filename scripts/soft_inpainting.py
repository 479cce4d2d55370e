"""Built-in always-on script "Soft Inpainting" (img2img), A1111 1.10's built-in extension of that name.

Args (A1111 order): enabled, schedule bias (1), preservation strength (0.5), transition contrast boost (4), mask
influence (0), difference threshold (0.5), difference contrast (2); through the API:
`"alwayson_scripts": {"soft inpainting": {"args": [true, 1, 0.5, 4, 0, 0.5, 2]}}`. When enabled on a request with
a mask, the mask is no longer rounded and the engine blends softly (modules/engine/soft_inpainting.py); the
settings go to the infotext ("Soft inpainting enabled: True, Soft inpainting schedule bias: 1, ...").
"""
from __future__ import annotations

from typing import Any

from modules import scripts

# (key the engine reads, infotext label, UI label, minimum, maximum, step, default)
SETTINGS = (
    ("mask_blend_power", "Soft inpainting schedule bias", "Schedule bias", 0, 8, 0.1, 1.0),
    ("mask_blend_scale", "Soft inpainting preservation strength", "Preservation strength", 0, 8, 0.05, 0.5),
    ("inpaint_detail_preservation", "Soft inpainting transition contrast boost", "Transition contrast boost",
     1, 32, 0.5, 4.0),
    ("composite_mask_influence", "Soft inpainting mask influence", "Mask influence", 0, 1, 0.05, 0.0),
    ("composite_difference_threshold", "Soft inpainting difference threshold", "Difference threshold",
     0, 8, 0.25, 0.5),
    ("composite_difference_contrast", "Soft inpainting difference contrast", "Difference contrast", 0, 8, 0.25, 2.0),
)


class Script(scripts.Script):
    def title(self) -> str:
        return "Soft Inpainting"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible if is_img2img else False

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        enabled = gr.Checkbox(label="Soft inpainting", value=False, elem_id="soft_inpainting_enabled")
        sliders = [gr.Slider(label=label, minimum=low, maximum=high, step=step, value=default, elem_id=key)
                   for key, _info, label, low, high, step, default in SETTINGS]
        return [enabled, *sliders]

    def process(self, p: Any, enabled: Any = False, *values: Any) -> None:
        if not enabled or getattr(p, "mask", None) is None:
            return
        p.mask_round = False  # A1111: soft inpainting needs the mask's opacity
        settings = {key: float(values[i]) if i < len(values) else default
                    for i, (key, _info, _label, _low, _high, _step, default) in enumerate(SETTINGS)}
        p.soft_inpainting = settings
        p.extra_generation_params["Soft inpainting enabled"] = True
        for key, info, *_rest in SETTINGS:
            p.extra_generation_params[info] = settings[key]
