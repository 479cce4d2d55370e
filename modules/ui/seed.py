"""The seed row (🎲 random, ♻️ last seed) and A1111's "Extra" variation-seed controls (subseed, strength, resize
seed from width/height)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import gradio as gr

from modules.generation.request import MAX_SEED
from modules.ui.icons import tool_button
from modules.ui.paste import PasteFields


@dataclass
class SeedControls:
    seed: gr.Number
    random_seed: gr.Button
    reuse_seed: gr.Button
    extra: gr.Checkbox
    subseed: gr.Number
    random_subseed: gr.Button
    reuse_subseed: gr.Button
    subseed_strength: gr.Slider
    seed_resize_from_w: gr.Slider
    seed_resize_from_h: gr.Slider

    def named(self) -> dict:
        return {"seed": self.seed, "subseed_show": self.extra, "subseed": self.subseed,
                "subseed_strength": self.subseed_strength, "seed_resize_from_w": self.seed_resize_from_w,
                "seed_resize_from_h": self.seed_resize_from_h}

    @staticmethod
    def body(v: dict) -> dict:
        fields: dict[str, int | float] = {"seed": _seed(v["seed"])}
        if v["subseed_show"]:  # A1111: the variation fields apply only while "Extra" is ticked
            fields.update(subseed=_seed(v["subseed"]), subseed_strength=float(v["subseed_strength"] or 0),
                          seed_resize_from_w=int(v["seed_resize_from_w"] or 0) or -1,
                          seed_resize_from_h=int(v["seed_resize_from_h"] or 0) or -1)
        return fields

    def paste(self, fields: PasteFields) -> None:
        fields.add(self.seed, "Seed", "int", send="send_seed")
        fields.add(self.extra, lambda d: True if "Variation seed" in d or "Seed resize from-1" in d else None, "bool")
        fields.add(self.subseed, "Variation seed", "int", send="send_seed")
        fields.add(self.subseed_strength, "Variation seed strength", "float")
        fields.add(self.seed_resize_from_w, "Seed resize from-1", "int")
        fields.add(self.seed_resize_from_h, "Seed resize from-2", "int")


def _seed(value) -> int:
    try:
        seed = int(value)
    except (TypeError, ValueError):
        return -1
    return seed if -1 <= seed <= MAX_SEED else -1


def build_seed(tab: str) -> SeedControls:
    with gr.Row(elem_id=f"{tab}_seed_row", equal_height=True):
        seed = gr.Number(value=-1, label="Seed", precision=0, elem_id=f"{tab}_seed", scale=4, min_width=120)
        random_seed = tool_button(f"{tab}_random_seed", "dice",
                                  "Set seed to -1, which will cause a new random number to be used every time")
        reuse_seed = tool_button(f"{tab}_reuse_seed", "recycle", "Reuse seed from last generation, mostly useful "
                                 "if it was randomized")
        extra = gr.Checkbox(label="Extra", value=False, elem_id=f"{tab}_subseed_show", scale=0, min_width=90,
                            container=False)
    with gr.Group(visible=False, elem_id=f"{tab}_seed_extras") as extras:
        with gr.Row(equal_height=True):
            subseed = gr.Number(value=-1, label="Variation seed", precision=0, elem_id=f"{tab}_subseed", scale=4,
                                min_width=120)
            random_subseed = tool_button(f"{tab}_random_subseed", "dice", "Set variation seed to -1 (random)")
            reuse_subseed = tool_button(f"{tab}_reuse_subseed", "recycle", "Reuse variation seed from last "
                                        "generation")
            strength = gr.Slider(0, 1, value=0, step=0.01, label="Variation strength",
                                 elem_id=f"{tab}_subseed_strength", scale=4, min_width=160)
        with gr.Row():
            resize_w = gr.Slider(0, 2048, value=0, step=8, label="Resize seed from width",
                                 elem_id=f"{tab}_seed_resize_from_w")
            resize_h = gr.Slider(0, 2048, value=0, step=8, label="Resize seed from height",
                                 elem_id=f"{tab}_seed_resize_from_h")
    extra.change(lambda on: gr.Group(visible=bool(on)), [extra], [extras], api_visibility="private", queue=False)
    return SeedControls(seed, random_seed, reuse_seed, extra, subseed, random_subseed, reuse_subseed, strength,
                        resize_w, resize_h)


def wire_seed_buttons(controls: SeedControls, generation_info: gr.Textbox, selected: gr.State) -> None:
    """🎲 sets -1 (random); ♻️ puts the seed (variation seed) of the selected result back (A1111 habit)."""
    controls.random_seed.click(None, None, [controls.seed], js="() => -1")
    controls.random_subseed.click(None, None, [controls.subseed], js="() => -1")

    def reuse(key: str):
        def pick(info_json: str, index, current):
            try:
                info = json.loads(info_json or "{}")
                values = info.get(f"all_{key}s") or []
                index = int(index or 0) - int(info.get("index_of_first_image", 0))
                return int(values[max(index, 0)] if values else info.get(key, current))
            except (TypeError, ValueError, IndexError):
                return current
        return pick

    controls.reuse_seed.click(reuse("seed"), [generation_info, selected, controls.seed], [controls.seed],
                              api_visibility="private")
    controls.reuse_subseed.click(reuse("subseed"), [generation_info, selected, controls.subseed],
                                 [controls.subseed], api_visibility="private")
