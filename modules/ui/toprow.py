"""The prompt row of txt2img/img2img: prompts, Generate (Interrupt / Skip / queue another while a job runs), the
tool buttons (↙ paste, clear, apply styles, edit styles) and the styles picker."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from modules.ui.icons import tool_button


@dataclass
class TopRow:
    id_task: gr.Textbox
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    styles: gr.Dropdown
    paste: gr.Button
    clear: gr.Button
    apply_styles: gr.Button
    edit_styles: gr.Button
    generate: gr.Button
    interrupt: gr.Button
    skip: gr.Button
    enqueue: gr.Button


def style_names(services) -> list[str]:
    return [style.name for style in services.styles.list()] if services.styles is not None else []


def build_toprow(services, tab: str) -> TopRow:
    with gr.Row(elem_id=f"{tab}_toprow", elem_classes=["easel-toprow"]):
        with gr.Column(scale=6, elem_id=f"{tab}_prompt_container"):
            prompt = gr.Textbox(label="Prompt", lines=3, max_lines=12, elem_id=f"{tab}_prompt", show_label=False,
                                placeholder="Prompt\n(Ctrl+Enter to generate, Ctrl+Up/Down to change emphasis)",
                                elem_classes=["prompt"])
            negative = gr.Textbox(label="Negative prompt", lines=2, max_lines=8, elem_id=f"{tab}_neg_prompt",
                                  show_label=False, placeholder="Negative prompt", elem_classes=["prompt"])
        with gr.Column(scale=2, min_width=260, elem_id=f"{tab}_actions_column"):
            with gr.Row(elem_id=f"{tab}_generate_box", elem_classes=["easel-generate-box"]):
                interrupt = gr.Button("Interrupt", elem_id=f"{tab}_interrupt", elem_classes=["easel-interrupt"],
                                      variant="stop", min_width=60)
                skip = gr.Button("Skip", elem_id=f"{tab}_skip", elem_classes=["easel-skip"], min_width=60)
                enqueue = tool_button(f"{tab}_enqueue", "plus", "Queue another generation with the current "
                                      "settings; it starts when the running one ends", extra_classes=["easel-enqueue"])
                generate = gr.Button("Generate", variant="primary", elem_id=f"{tab}_generate", size="lg",
                                     elem_classes=["easel-generate"])
            with gr.Row(elem_id=f"{tab}_tools", elem_classes=["easel-tools"]):
                paste = tool_button(f"{tab}_paste", "paste", "Read generation parameters from the prompt or, if the "
                                    "prompt is empty, from the last generation, into the user interface")
                clear = tool_button(f"{tab}_clear_prompt", "trash", "Clear prompt")
                apply_styles = tool_button(f"{tab}_style_apply", "style", "Apply all selected styles to prompts")
                edit_styles = tool_button(f"{tab}_styles_edit_button", "brush", "Edit styles")
            styles = gr.Dropdown(style_names(services), value=[], multiselect=True, label="Styles",
                                 elem_id=f"{tab}_styles", elem_classes=["easel-styles"])
    id_task = gr.Textbox(visible=False, elem_id=f"{tab}_id_task")
    clear.click(None, None, [prompt, negative], js="() => ['', '']")

    def apply_selected(text: str, negative_text: str, selected: list[str] | None):
        new_text, new_negative = services.styles.apply(text or "", negative_text or "", list(selected or []))
        return new_text, new_negative, gr.Dropdown(value=[])

    apply_styles.click(apply_selected, [prompt, negative, styles], [prompt, negative, styles], api_visibility="private")
    return TopRow(id_task, prompt, negative, styles, paste, clear, apply_styles, edit_styles,
                  generate, interrupt, skip, enqueue)
