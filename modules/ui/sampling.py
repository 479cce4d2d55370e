"""Sampling controls of txt2img/img2img: sampler and schedule, steps, size (with the ⇅ swap), batch, CFG scale."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from modules.engine import samplers
from modules.ui.icons import tool_button
from modules.ui.paste import PasteFields


def schedule_labels() -> list[str]:
    return [s.label for s in samplers.SCHEDULES]


@dataclass
class SamplingControls:
    sampler: gr.Dropdown
    scheduler: gr.Dropdown
    steps: gr.Slider
    width: gr.Slider
    height: gr.Slider
    swap: gr.Button
    batch_count: gr.Slider
    batch_size: gr.Slider
    cfg_scale: gr.Slider

    def body(self, v: dict) -> dict:
        """Request fields (A1111 names) from the form values named like the attributes."""
        return {"sampler_name": v["sampler"], "scheduler": v["scheduler"], "steps": int(v["steps"]),
                "width": int(v["width"]), "height": int(v["height"]), "n_iter": int(v["batch_count"]),
                "batch_size": int(v["batch_size"]), "cfg_scale": float(v["cfg_scale"])}

    def named(self) -> dict:
        return {"sampler": self.sampler, "scheduler": self.scheduler, "steps": self.steps, "width": self.width,
                "height": self.height, "batch_count": self.batch_count, "batch_size": self.batch_size,
                "cfg_scale": self.cfg_scale}

    def paste(self, fields: PasteFields) -> None:
        fields.add(self.sampler, "Sampler", "choice", choices=samplers.sampler_names)
        fields.add(self.scheduler, "Schedule type", "choice", choices=schedule_labels)
        fields.add(self.steps, "Steps", "int")
        fields.add(self.width, "Size-1", "int", send="send_size")
        fields.add(self.height, "Size-2", "int", send="send_size")
        fields.add(self.cfg_scale, "CFG scale", "float")


def build_sampler_row(tab: str) -> tuple[gr.Dropdown, gr.Dropdown, gr.Slider]:
    with gr.Row(elem_id=f"{tab}_sampler_row"):
        sampler = gr.Dropdown(samplers.sampler_names(), value="Euler a", label="Sampling method",
                              elem_id=f"{tab}_sampling", scale=2, min_width=160)
        scheduler = gr.Dropdown(schedule_labels(), value="Automatic", label="Schedule type",
                                elem_id=f"{tab}_scheduler", scale=2, min_width=140)
    steps = gr.Slider(1, 150, value=20, step=1, label="Sampling steps", elem_id=f"{tab}_steps")
    return sampler, scheduler, steps


def build_size_row(tab: str) -> tuple[gr.Slider, gr.Slider, gr.Button, gr.Slider, gr.Slider]:
    with gr.Row(elem_id=f"{tab}_dimensions_row", equal_height=True):
        with gr.Column(scale=3, min_width=200, elem_id=f"{tab}_column_size"):
            width = gr.Slider(64, 2048, value=512, step=8, label="Width", elem_id=f"{tab}_width")
            height = gr.Slider(64, 2048, value=512, step=8, label="Height", elem_id=f"{tab}_height")
        swap = tool_button(f"{tab}_res_switch_btn", "swap", "Switch width/height")
        with gr.Column(scale=2, min_width=170, elem_id=f"{tab}_column_batch"):
            batch_count = gr.Slider(1, 16, value=1, step=1, label="Batch count", elem_id=f"{tab}_batch_count")
            batch_size = gr.Slider(1, 8, value=1, step=1, label="Batch size", elem_id=f"{tab}_batch_size")
    swap.click(lambda w, h: (h, w), [width, height], [width, height], api_visibility="private", queue=False)
    return width, height, swap, batch_count, batch_size


def build_sampling(tab: str, *, with_size: bool = True) -> SamplingControls:
    """The sampler row and steps; the size/batch rows and CFG when `with_size` (img2img puts size elsewhere)."""
    sampler, scheduler, steps = build_sampler_row(tab)
    width, height, swap, batch_count, batch_size = build_size_row(tab)
    cfg = gr.Slider(1, 30, value=7, step=0.5, label="CFG Scale", elem_id=f"{tab}_cfg_scale")
    return SamplingControls(sampler, scheduler, steps, width, height, swap, batch_count, batch_size, cfg)
