"""The style editor (A1111 1.6+'s 🖌 dialog): pick or name a style, edit its prompts, save or delete it in
styles.csv. The styles pickers of both tabs follow the file (modules/ui/watch.py), this tab's at once."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from modules.errors import EaselError
from modules.styles import merge_prompts
from modules.ui.icons import tool_button
from modules.ui.toprow import TopRow, style_names


@dataclass
class StyleEditor:
    group: gr.Column
    name: gr.Dropdown
    prompt: gr.Textbox
    negative_prompt: gr.Textbox


def build_style_editor(services, tab: str, row: TopRow) -> StyleEditor:
    with gr.Column(visible=False, elem_id=f"{tab}_styles_dialog", elem_classes=["easel-dialog"],
                   variant="panel") as group:
        with gr.Row(equal_height=True):
            name = gr.Dropdown(style_names(services), value=None, allow_custom_value=True, label="Style",
                               elem_id=f"{tab}_edit_style_name", scale=4, min_width=200,
                               info="Pick a style to edit, or type a new name")
            copy = tool_button(f"{tab}_edit_style_copy", "paste", "Copy the prompts of the main prompt boxes into "
                               "this style")
            apply = tool_button(f"{tab}_edit_style_apply", "style", "Apply this style to the main prompt boxes")
        prompt = gr.Textbox(label="Prompt", lines=2, elem_id=f"{tab}_edit_style_prompt", elem_classes=["prompt"],
                            placeholder="{prompt} marks where the main prompt goes; without it the style is "
                                        "appended")
        negative = gr.Textbox(label="Negative prompt", lines=2, elem_id=f"{tab}_edit_style_neg_prompt",
                              elem_classes=["prompt"])
        with gr.Row():
            save = gr.Button("Save", variant="primary", elem_id=f"{tab}_edit_style_save", min_width=80)
            delete = gr.Button("Delete", variant="stop", elem_id=f"{tab}_edit_style_delete", min_width=80)
            close = gr.Button("Close", elem_id=f"{tab}_edit_style_close", min_width=80)
        status = gr.Markdown("", elem_id=f"{tab}_edit_style_status")

    row.edit_styles.click(lambda: gr.Column(visible=True), None, [group], api_visibility="private", queue=False)
    close.click(lambda: gr.Column(visible=False), None, [group], api_visibility="private", queue=False)

    def select(style_name: str | None):
        style = services.styles.get(style_name or "")
        if style is None:
            return gr.skip(), gr.skip()
        return style.prompt, style.negative_prompt

    name.input(select, [name], [prompt, negative], api_visibility="private")
    copy.click(lambda a, b: (a, b), [row.prompt, row.negative_prompt], [prompt, negative], api_visibility="private",
               queue=False)

    def apply_one(main: str, main_negative: str, text: str, negative_text: str):
        return merge_prompts(text or "", main or ""), merge_prompts(negative_text or "", main_negative or "")

    apply.click(apply_one, [row.prompt, row.negative_prompt, prompt, negative], [row.prompt, row.negative_prompt],
                api_visibility="private")

    def choices(selected, value=None):
        names = style_names(services)
        picked = [n for n in (selected or []) if n in names]
        return gr.Dropdown(choices=names, value=value), gr.Dropdown(choices=names, value=picked)

    def on_save(style_name: str | None, text: str, negative_text: str, selected):
        try:
            style = services.styles.save_style(style_name or "", text or "", negative_text or "")
        except EaselError as e:
            raise gr.Error(e.message) from e
        return (*choices(selected, style.name), f"Saved style **{style.name}** to styles.csv.")

    def on_delete(style_name: str | None, selected):
        try:
            services.styles.delete_style(style_name or "")
        except EaselError as e:
            raise gr.Error(e.message) from e
        return (*choices(selected), "", "", f"Deleted style **{style_name}**.")

    save.click(on_save, [name, prompt, negative, row.styles], [name, row.styles, status], api_visibility="private")
    delete.click(on_delete, [name, row.styles], [name, row.styles, prompt, negative, status],
                 api_visibility="private")
    return StyleEditor(group, name, prompt, negative)


def follow_styles(services, watcher, row: TopRow) -> None:
    """The styles picker lists what styles.csv holds now (the file is watched: see modules/styles.py)."""
    watcher.follow(row.styles, lambda: style_names(services))
