"""A Gradio input for one option of the option table (Settings tab, quicksettings), and its value back."""
from __future__ import annotations

import gradio as gr


def choices_of(info) -> list | None:
    choices = info.choices() if callable(info.choices) else info.choices
    return list(choices) if choices is not None else None


def component_for(key: str, info, value, **layout):
    """A component by the default's type and the option's choices/range; `elem_id` is `setting_<key>`."""
    label = info.label or key
    elem_id = f"setting_{key}"
    choices = choices_of(info)
    default = info.default
    if isinstance(default, bool):
        return gr.Checkbox(value=bool(value), label=label, elem_id=elem_id, **layout)
    if choices is not None:
        return gr.Dropdown(choices, value=value if value in choices else default, label=label, elem_id=elem_id,
                           **layout)
    if isinstance(default, list):
        current = [str(v) for v in (value or [])]
        return gr.Dropdown(current, value=current, multiselect=True, allow_custom_value=True, label=label,
                           elem_id=elem_id, **layout)
    if isinstance(default, (int, float)):
        if info.minimum is not None and info.maximum is not None:
            step = 1 if isinstance(default, int) else 0.01
            return gr.Slider(info.minimum, info.maximum, value=value, step=step, label=label, elem_id=elem_id,
                             **layout)
        return gr.Number(value=value, label=label, elem_id=elem_id, precision=0 if isinstance(default, int) else None,
                         **layout)
    return gr.Textbox(value="" if value is None else str(value), label=label, elem_id=elem_id, lines=1, **layout)


def coerce(info, value):
    """The component's value as the option's type (sliders give floats, empty number boxes None)."""
    default = info.default
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, list):
        return list(value or [])
    if isinstance(default, str) and value is None:
        return ""
    return value


def shown_value(info, value):
    """An option's value as its component shows it."""
    if isinstance(info.default, list):
        return [str(v) for v in (value or [])]
    if isinstance(info.default, str) and value is None:
        return ""
    return value
