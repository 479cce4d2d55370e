"""txt2img's "Hires. fix" accordion (A1111 1.10 layout): upscaler (the Latent modes and every installed
upscaler), hires steps, denoising, upscale by / resize to, hires checkpoint, sampler, schedule and prompts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.engine import samplers
from modules.generation import hires
from modules.ui.paste import PasteFields
from modules.ui.sampling import schedule_labels

SAME_CHECKPOINT = "Use same checkpoint"


@dataclass
class HiresControls:
    enable: gr.Checkbox
    upscaler: gr.Dropdown
    steps: gr.Slider
    denoising: gr.Slider
    scale: gr.Slider
    resize_x: gr.Slider
    resize_y: gr.Slider
    checkpoint: gr.Dropdown
    sampler: gr.Dropdown
    scheduler: gr.Dropdown
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    target: gr.Markdown

    def named(self) -> dict:
        return {"enable_hr": self.enable, "hr_upscaler": self.upscaler, "hr_second_pass_steps": self.steps,
                "hr_denoising": self.denoising, "hr_scale": self.scale, "hr_resize_x": self.resize_x,
                "hr_resize_y": self.resize_y, "hr_checkpoint_name": self.checkpoint, "hr_sampler_name": self.sampler,
                "hr_scheduler": self.scheduler, "hr_prompt": self.prompt, "hr_negative_prompt": self.negative_prompt}

    @staticmethod
    def body(v: dict) -> dict:
        if not v["enable_hr"]:
            return {}
        checkpoint = v["hr_checkpoint_name"]
        return {"enable_hr": True, "hr_upscaler": v["hr_upscaler"], "hr_second_pass_steps": int(v["hr_second_pass_steps"]),
                "denoising_strength": float(v["hr_denoising"]), "hr_scale": float(v["hr_scale"]),
                "hr_resize_x": int(v["hr_resize_x"]), "hr_resize_y": int(v["hr_resize_y"]),
                "hr_checkpoint_name": None if checkpoint in (None, "", SAME_CHECKPOINT) else checkpoint,
                "hr_sampler_name": v["hr_sampler_name"], "hr_scheduler": v["hr_scheduler"],
                "hr_prompt": v["hr_prompt"] or "", "hr_negative_prompt": v["hr_negative_prompt"] or ""}

    def paste(self, fields: PasteFields) -> None:
        fields.add(self.enable, lambda d: True if "Denoising strength" in d and (
            "Hires upscale" in d or "Hires upscaler" in d or d.get("Hires resize-1")) else None, "bool")
        fields.add(self.upscaler, "Hires upscaler", "choice", choices=hires.upscaler_names)
        fields.add(self.steps, "Hires steps", "int")
        fields.add(self.denoising, "Denoising strength", "float")
        fields.add(self.scale, "Hires upscale", "float")
        fields.add(self.resize_x, lambda d: d.get("Hires resize-1") or None, "int")
        fields.add(self.resize_y, lambda d: d.get("Hires resize-2") or None, "int")
        fields.add(self.sampler, "Hires sampler", "choice", choices=_sampler_choices)
        fields.add(self.scheduler, "Hires schedule type", "choice", choices=_schedule_choices)
        fields.add(self.prompt, "Hires prompt")
        fields.add(self.negative_prompt, "Hires negative prompt")


def _sampler_choices() -> list[str]:
    return [hires.SAME_SAMPLER, *samplers.sampler_names()]


def _schedule_choices() -> list[str]:
    return [hires.SAME_SCHEDULER, *schedule_labels()]


def checkpoint_choices(services) -> list[str]:
    return [SAME_CHECKPOINT, *(info.title for info in services.checkpoints.list())]


def describe_target(width: float, height: float, scale: float, resize_x: float, resize_y: float) -> str:
    w, h = hires.final_size(int(width), int(height), float(scale), int(resize_x), int(resize_y))
    return f"from {int(width)}x{int(height)} to **{w}x{h}**"


def build_hires(services, tab: str) -> HiresControls:
    with gr.Accordion("Hires. fix", open=False, elem_id=f"{tab}_hr", elem_classes=["easel-input-accordion"]):
        with gr.Row(equal_height=True):
            enable = gr.Checkbox(label="Enable", value=False, elem_id=f"{tab}_enable_hr", scale=0, min_width=100)
            target = gr.Markdown("", elem_id=f"{tab}_hr_target")
        with gr.Row():
            upscaler = gr.Dropdown(hires.upscaler_names(), value=hires.DEFAULT_UPSCALER, label="Upscaler",
                                   elem_id=f"{tab}_hr_upscaler", min_width=160)
            steps = gr.Slider(0, 150, value=0, step=1, label="Hires steps", elem_id=f"{tab}_hires_steps",
                              min_width=160)
            denoising = gr.Slider(0, 1, value=hires.DEFAULT_DENOISING, step=0.01, label="Denoising strength",
                                  elem_id=f"{tab}_denoising_strength", min_width=160)
        with gr.Row():
            scale = gr.Slider(1, 4, value=2, step=0.05, label="Upscale by", elem_id=f"{tab}_hr_scale", min_width=160)
            resize_x = gr.Slider(0, 2048, value=0, step=8, label="Resize width to", elem_id=f"{tab}_hr_resize_x",
                                 min_width=160)
            resize_y = gr.Slider(0, 2048, value=0, step=8, label="Resize height to", elem_id=f"{tab}_hr_resize_y",
                                 min_width=160)
        with gr.Row():
            checkpoint = gr.Dropdown(checkpoint_choices(services), value=SAME_CHECKPOINT, label="Hires checkpoint",
                                     elem_id=f"{tab}_hr_checkpoint", min_width=160)
            sampler = gr.Dropdown(_sampler_choices(), value=hires.SAME_SAMPLER, label="Hires sampling method",
                                  elem_id=f"{tab}_hr_sampler", min_width=160)
            scheduler = gr.Dropdown(_schedule_choices(), value=hires.SAME_SCHEDULER, label="Hires schedule type",
                                    elem_id=f"{tab}_hr_scheduler", min_width=160)
        with gr.Row():
            prompt = gr.Textbox(label="Hires prompt", lines=2, elem_id=f"{tab}_hr_prompt", elem_classes=["prompt"],
                                placeholder="empty: the prompt of the first pass")
            negative = gr.Textbox(label="Hires negative prompt", lines=2, elem_id=f"{tab}_hr_negative_prompt",
                                  elem_classes=["prompt"], placeholder="empty: the negative prompt of the first pass")
    return HiresControls(enable, upscaler, steps, denoising, scale, resize_x, resize_y, checkpoint, sampler,
                         scheduler, prompt, negative, target)


def wire_hires_target(hires: HiresControls, width: gr.Slider, height: gr.Slider) -> None:
    """The "from 512x512 to 1024x1024" line follows the size and hires controls."""
    size_inputs = [width, height, hires.scale, hires.resize_x, hires.resize_y]
    triggers: list[Any] = [*size_inputs, hires.enable]  # (gradio's event methods are added at runtime)
    for component in triggers:
        component.change(describe_target, size_inputs, [hires.target], api_visibility="private", queue=False,
                         show_progress="hidden")
