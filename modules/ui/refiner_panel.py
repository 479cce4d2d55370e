"""The "Refiner" accordion (A1111 1.6+): a second checkpoint takes over the sampling at "Switch at"."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from modules.ui.paste import PasteFields


@dataclass
class RefinerControls:
    enable: gr.Checkbox
    checkpoint: gr.Dropdown
    switch_at: gr.Slider

    def named(self) -> dict:
        return {"refiner_enable": self.enable, "refiner_checkpoint": self.checkpoint,
                "refiner_switch_at": self.switch_at}

    @staticmethod
    def body(v: dict) -> dict:
        if not v["refiner_enable"] or not v["refiner_checkpoint"]:
            return {}
        return {"refiner_checkpoint": v["refiner_checkpoint"], "refiner_switch_at": float(v["refiner_switch_at"])}

    def paste(self, fields: PasteFields) -> None:
        fields.add(self.enable, lambda d: True if d.get("Refiner") else None, "bool")
        fields.add(self.checkpoint, "Refiner")
        fields.add(self.switch_at, "Refiner switch at", "float")


def build_refiner(services, tab: str) -> RefinerControls:
    titles = [info.title for info in services.checkpoints.list()]
    with gr.Accordion("Refiner", open=False, elem_id=f"{tab}_refiner", elem_classes=["easel-input-accordion"]):
        with gr.Row(equal_height=True):
            enable = gr.Checkbox(label="Enable", value=False, elem_id=f"{tab}_refiner_enable", scale=0,
                                 min_width=100)
            checkpoint = gr.Dropdown(titles, value=None, label="Checkpoint", elem_id=f"{tab}_refiner_checkpoint",
                                     scale=3, min_width=200)
            switch_at = gr.Slider(0.01, 1, value=0.8, step=0.01, label="Switch at",
                                  elem_id=f"{tab}_refiner_switch_at", scale=3, min_width=160)
    return RefinerControls(enable, checkpoint, switch_at)
