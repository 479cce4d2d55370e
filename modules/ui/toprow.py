"""The prompt row of txt2img/img2img: prompts, styles, Generate / Interrupt / Skip and the paste button ↙️."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from modules.engine import samplers
from modules.infotext import parse_generation_parameters


@dataclass
class TopRow:
    id_task: gr.Textbox
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    styles: gr.Dropdown
    styles_refresh: gr.Button
    paste: gr.Button
    generate: gr.Button
    interrupt: gr.Button
    skip: gr.Button


def build_toprow(services, tab: str) -> TopRow:
    with gr.Row(elem_id=f"{tab}_toprow", elem_classes=["easel-toprow"]):
        with gr.Column(scale=6):
            prompt = gr.Textbox(label="Prompt", lines=3, max_lines=12, elem_id=f"{tab}_prompt",
                                placeholder="Prompt (Ctrl+Enter to generate, Ctrl+Up/Down to change emphasis)",
                                elem_classes=["prompt"])
            negative = gr.Textbox(label="Negative prompt", lines=2, max_lines=8, elem_id=f"{tab}_neg_prompt",
                                  placeholder="Negative prompt", elem_classes=["prompt"])
        with gr.Column(scale=2, min_width=220):
            with gr.Row():
                interrupt = gr.Button("Interrupt", elem_id=f"{tab}_interrupt", elem_classes=["easel-interrupt"],
                                      variant="stop")
                skip = gr.Button("Skip", elem_id=f"{tab}_skip", elem_classes=["easel-skip"])
            generate = gr.Button("Generate", variant="primary", elem_id=f"{tab}_generate", size="lg")
            with gr.Row(equal_height=True):
                paste = gr.Button("\u2199\ufe0f", elem_id=f"{tab}_paste", elem_classes=["tool"], min_width=40,
                                  scale=0)
                styles = gr.Dropdown(_style_names(services), value=[], multiselect=True, label="Styles",
                                     elem_id=f"{tab}_styles", scale=4, show_label=False)
                styles_refresh = gr.Button("\U0001f504", elem_id=f"{tab}_styles_refresh", elem_classes=["tool"],
                                           min_width=40, scale=0)
    id_task = gr.Textbox(visible=False, elem_id=f"{tab}_id_task")

    def refresh_styles(current):
        services.styles.reload()
        names = _style_names(services)
        return gr.Dropdown(choices=names, value=[n for n in (current or []) if n in names])

    styles_refresh.click(refresh_styles, [styles], [styles], api_visibility="private")
    return TopRow(id_task, prompt, negative, styles, styles_refresh, paste, generate, interrupt, skip)


def _style_names(services) -> list[str]:
    return [style.name for style in services.styles.list()] if services.styles is not None else []


def _number(value, cast, fallback):
    try:
        return cast(float(value)) if cast is int else cast(value)
    except (TypeError, ValueError):
        return fallback


def paste_fields(text: str, current: list) -> list:
    """The values an infotext gives for [prompt, negative, sampler, scheduler, steps, width, height, cfg, seed];
    fields the text does not name keep their `current` values. Text without a parameters line is left alone."""
    prompt, negative, sampler, scheduler, steps, width, height, cfg, seed = current
    if not text or "Steps:" not in text:
        return current
    params = parse_generation_parameters(text)
    sampler_value = params.get("Sampler", sampler)
    if sampler_value not in samplers.sampler_names():
        sampler_value = sampler
    schedule_labels = [s.label for s in samplers.SCHEDULES]
    schedule_value = params.get("Schedule type", scheduler)
    if schedule_value not in schedule_labels:
        schedule_value = scheduler
    return [params.get("Prompt", prompt), params.get("Negative prompt", negative), sampler_value, schedule_value,
            _number(params.get("Steps"), int, steps), _number(params.get("Size-1"), int, width),
            _number(params.get("Size-2"), int, height), _number(params.get("CFG scale"), float, cfg),
            _number(params.get("Seed"), int, seed)]


def wire_paste(row: TopRow, fields: list) -> None:
    """↙️: parse the infotext in the prompt box server-side and fill the fields (prompt first)."""
    targets = [row.prompt, row.negative_prompt, *fields]

    def paste(*values):
        return paste_fields(values[0], list(values))

    row.paste.click(paste, targets, targets, api_visibility="private")
