"""The Settings tab: every option of `services.options.table`, grouped by section, saved to config.json."""
from __future__ import annotations

import html
import logging

import gradio as gr

from modules.errors import EaselError

logger = logging.getLogger(__name__)

# Options the top bar already edits.
SKIPPED = {"sd_model_checkpoint", "sd_vae"}
SECTION_TITLES = {
    "saving-images": "Saving images/grids", "saving-paths": "Paths for saving", "saving-to-dirs": "Saving to a directory",
    "sd": "Stable Diffusion", "compatibility": "Compatibility", "extra_networks": "Extra Networks",
    "img2img": "img2img", "sampler-params": "Sampler parameters", "face-restoration": "Face restoration",
    "upscaling": "Upscaling", "ui": "User interface", "infotext": "Infotext", "api": "API", "system": "System",
    "training": "Training", "interrogate": "Interrogate", "extensions": "Extensions",
}


def _choices(info) -> list | None:
    choices = info.choices() if callable(info.choices) else info.choices
    return list(choices) if choices is not None else None


def component_for(key: str, info, value):
    """A Gradio input for one option, by its default's type and its choices/range."""
    label = info.label or key
    elem_id = f"setting_{key}"
    choices = _choices(info)
    default = info.default
    if isinstance(default, bool):
        return gr.Checkbox(value=bool(value), label=label, elem_id=elem_id)
    if choices is not None:
        return gr.Dropdown(choices, value=value if value in choices else default, label=label, elem_id=elem_id)
    if isinstance(default, list):
        current = [str(v) for v in (value or [])]
        return gr.Dropdown(current, value=current, multiselect=True, allow_custom_value=True, label=label,
                           elem_id=elem_id)
    if isinstance(default, (int, float)):
        if info.minimum is not None and info.maximum is not None:
            step = 1 if isinstance(default, int) else 0.01
            return gr.Slider(info.minimum, info.maximum, value=value, step=step, label=label, elem_id=elem_id)
        return gr.Number(value=value, label=label, elem_id=elem_id, precision=0 if isinstance(default, int) else None)
    return gr.Textbox(value="" if value is None else str(value), label=label, elem_id=elem_id, lines=1)


def _coerce(info, value):
    if isinstance(info.default, int) and not isinstance(info.default, bool) and isinstance(value, float) \
            and value.is_integer():
        return int(value)
    if isinstance(info.default, list):
        return list(value or [])
    return value


def apply_settings(options, keys: list[str], values: list) -> str:
    """Set every changed option (listeners run), save config.json, and say what changed or failed."""
    changed, errors = [], []
    for key, value in zip(keys, values):
        info = options.table.get(key)
        if info is None:
            continue
        try:
            if options.set(key, _coerce(info, value), is_api=False):
                changed.append(key)
        except EaselError as e:
            errors.append(e.message)
    options.save()
    if changed:
        logger.info("WebUI settings changed: %s", ", ".join(changed))
    text = f"{len(changed)} setting(s) changed" + (f": {', '.join(changed)}." if changed else ".")
    if errors:
        text += "<br>" + "<br>".join(f"<span class='easel-error'>{html.escape(e)}</span>" for e in errors)
    return f"<p>{text}</p>"


def build_settings(services) -> None:
    options = services.options
    sections: dict[str, list[str]] = {}
    for key, info in options.table.items():
        if key not in SKIPPED:
            sections.setdefault(info.section, []).append(key)
    with gr.Row(elem_id="settings_top"):
        apply = gr.Button("Apply settings", variant="primary", elem_id="settings_submit", scale=1)
        result = gr.HTML("<p>Changes are saved to config.json in the data dir.</p>", elem_id="settings_result")
    keys, components = [], []
    for index, (section, section_keys) in enumerate(sections.items()):
        title = SECTION_TITLES.get(section, section.replace("-", " ").replace("_", " ").capitalize())
        with gr.Accordion(title, open=index < 2, elem_id=f"settings_section_{section}"):
            for key in section_keys:
                keys.append(key)
                components.append(component_for(key, options.table[key], options.get(key)))

    def on_apply(*values):
        return apply_settings(options, keys, list(values))

    def on_load():
        return [gr.update(value=options.get(key)) for key in keys]

    apply.click(on_apply, components, [result], api_visibility="private")
    reload_values = gr.Button("Reload settings", elem_id="settings_reload", size="sm")
    reload_values.click(on_load, None, components, api_visibility="private")
