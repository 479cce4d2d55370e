"""Infotext -> the fields of a tab (A1111's `paste_fields`): the ↙ button, "Send to" from a gallery or PNG Info.

Each tab declares which component takes which infotext key; the values are parsed server-side (styles inferred
as A1111 does, modules/styles.py `parse_infotext`) and every field the text does not name keeps its value.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from modules.styles import parse_infotext

Getter = Callable[[dict], Any]


@dataclass
class PasteField:
    component: Any
    source: str | Getter  # an infotext key, or a function of the parsed parameters (None: leave the field)
    kind: str = "text"  # text | int | float | bool | choice
    choices: Callable[[], list] | None = None
    send: str | None = None  # option that must be on for "send to" (send_seed, send_size); ↙ always pastes


@dataclass
class PasteFields:
    fields: list[PasteField] = field(default_factory=list)

    def add(self, component: Any, source: str | Getter, kind: str = "text", *,
            choices: Callable[[], list] | None = None, send: str | None = None) -> None:
        self.fields.append(PasteField(component, source, kind, choices, send))

    def components(self) -> list:
        return [f.component for f in self.fields]

    def values(self, params: dict, current: list, *, options: Any = None) -> list:
        """The new value of every field (its `current` value when the text does not give one). With `options`
        (a "send to"), fields guarded by an off option (send_seed, send_size) keep their values."""
        out = []
        for spec, value in zip(self.fields, current):
            if options is not None and spec.send and not options.get(spec.send):
                out.append(value)
                continue
            raw = spec.source(params) if callable(spec.source) else params.get(spec.source)
            out.append(value if raw is None else convert(spec, raw, value))
        return out


def convert(spec: PasteField, raw: Any, current: Any) -> Any:
    try:
        if spec.kind == "int":
            return int(float(raw))
        if spec.kind == "float":
            return float(raw)
        if spec.kind == "bool":
            return raw if isinstance(raw, bool) else str(raw).strip().lower() == "true"
    except (TypeError, ValueError):
        return current
    if spec.kind == "choice" and spec.choices is not None and raw not in spec.choices():
        return current
    return raw


def has_parameters(text: str | None) -> bool:
    return bool(text) and "Steps:" in str(text)


def parse(services, text: str) -> dict:
    return parse_infotext(text, services.styles, services.options.get("infotext_styles"))


def wire_paste_button(services, button: gr.Button, prompt: Any, fields: PasteFields) -> None:
    """↙: parse the infotext in the prompt box and fill the fields; text without a parameters line stays."""
    targets = fields.components()

    def paste(text: str, *current):
        if not has_parameters(text):
            return list(current)
        return fields.values(parse(services, text), list(current))

    button.click(paste, [prompt, *targets], targets, api_visibility="private")
