"""SVG icons for the WebUI's tool buttons, and their hover hints (`title`).

A machine without an emoji font shows A1111's emoji buttons (🎲 ♻️ 🔄 ↙️ ...) as empty boxes, so Easel draws its
own: each icon is a small stroke SVG used as a CSS mask over `currentColor` (it follows the theme, dark mode
included). `tool_button` makes a button with an icon and records its hint; javascript/hints.js puts every hint
into the element's `title` (translated when a localization is active).
"""
from __future__ import annotations

from typing import Literal
from urllib.parse import quote

import gradio as gr

# 24x24 stroke paths (round caps and joins, stroke width 2).
ICONS: dict[str, str] = {
    "dice": '<rect x="3" y="3" width="18" height="18" rx="3"/><circle cx="8" cy="8" r="1.2"/>'
            '<circle cx="16" cy="16" r="1.2"/><circle cx="12" cy="12" r="1.2"/><circle cx="16" cy="8" r="1.2"/>'
            '<circle cx="8" cy="16" r="1.2"/>',
    "recycle": '<path d="M21 12a9 9 0 0 1-15.5 6.2"/><path d="M3 12A9 9 0 0 1 18.5 5.8"/>'
               '<path d="M18 2v4h-4"/><path d="M6 22v-4h4"/>',
    "refresh": '<path d="M20 11a8 8 0 0 0-14.6-4.5L4 8"/><path d="M4 3v5h5"/>'
               '<path d="M4 13a8 8 0 0 0 14.6 4.5L20 16"/><path d="M20 21v-5h-5"/>',
    "paste": '<path d="M18 6 6 18"/><path d="M6 8v10h10"/>',
    "trash": '<path d="M4 7h16"/><path d="M10 11v6"/><path d="M14 11v6"/><path d="M6 7l1 13h10l1-13"/>'
             '<path d="M9 7V4h6v3"/>',
    "cards": '<rect x="3" y="5" width="12" height="15" rx="2"/><path d="M8 5V4a1 1 0 0 1 1-1h10a2 2 0 0 1 2 2v11'
             'a2 2 0 0 1-2 2h-4"/>',
    "style": '<rect x="5" y="4" width="14" height="17" rx="2"/><path d="M9 4V2h6v2"/><path d="M9 11h6"/>'
             '<path d="M9 15h4"/>',
    "brush": '<path d="M14 4l6 6-8.5 8.5a3 3 0 0 1-4.2 0l-1.8-1.8a3 3 0 0 1 0-4.2z"/><path d="M5 19l-2 2"/>'
             '<path d="M11 7l6 6"/>',
    "save": '<path d="M5 3h11l5 5v11a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/><path d="M7 3v5h8V3"/>'
            '<rect x="7" y="13" width="10" height="6"/>',
    "zip": '<path d="M21 8v12a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8"/><path d="M1 3h22v5H1z"/><path d="M10 12h4"/>',
    "folder": '<path d="M3 6a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>',
    "copy": '<rect x="9" y="9" width="12" height="12" rx="2"/><path d="M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10'
            'a1 1 0 0 1 1 1v1"/>',
    "swap": '<path d="M7 4v16"/><path d="M3 8l4-4 4 4"/><path d="M17 20V4"/><path d="M13 16l4 4 4-4"/>',
    "image": '<rect x="3" y="4" width="18" height="16" rx="2"/><circle cx="9" cy="10" r="2"/>'
             '<path d="M21 17l-5-5-9 8"/>',
    "mask": '<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M8 15c2-5 6-5 8 0"/>'
            '<circle cx="12" cy="10" r="1.5"/>',
    "expand": '<path d="M15 3h6v6"/><path d="M9 21H3v-6"/><path d="M21 3l-7 7"/><path d="M3 21l7-7"/>',
    "stop": '<rect x="6" y="6" width="12" height="12" rx="1"/>',
    "skip": '<path d="M5 4l10 8-10 8z"/><path d="M19 5v14"/>',
    "plus": '<path d="M12 5v14"/><path d="M5 12h14"/>',
    "upload": '<path d="M12 16V4"/><path d="M7 9l5-5 5 5"/><path d="M4 20h16"/>',
    "download": '<path d="M12 4v12"/><path d="M7 11l5 5 5-5"/><path d="M4 20h16"/>',
    "search": '<circle cx="11" cy="11" r="7"/><path d="M21 21l-4.5-4.5"/>',
    "info": '<circle cx="12" cy="12" r="9"/><path d="M12 11v6"/><path d="M12 7.5v.5"/>',
    "close": '<path d="M6 6l12 12"/><path d="M18 6 6 18"/>',
    "sparkle": '<path d="M12 3l2 6 6 2-6 2-2 6-2-6-6-2 6-2z"/>',
    "interrogate": '<path d="M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12z"/><circle cx="12" cy="12" r="3"/>',
}

HINTS: dict[str, str] = {}
"""elem_id -> hover text of every tool button built (the page gets them as `window.easelHints`)."""


def svg(name: str) -> str:
    body = ICONS[name]
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="black" '
            f'stroke-width="2" stroke-linecap="round" stroke-linejoin="round">{body}</svg>')


def icon_css() -> str:
    """One `.easel-icon-<name>` rule per icon, setting the mask the `.easel-icon::before` rule draws."""
    rules = [f'.easel-icon-{name} {{ --easel-icon: url("data:image/svg+xml,{quote(svg(name))}"); }}'
             for name in ICONS]
    return "\n".join(rules)


def hint(elem_id: str, text: str) -> None:
    """Record the hover text of an element (tool buttons call this; other components may too)."""
    HINTS[elem_id] = text


def tool_button(elem_id: str, icon: str, text_hint: str, *, label: str = "", visible: bool = True,
                variant: Literal["primary", "secondary", "stop", "huggingface"] = "secondary",
                extra_classes: list[str] | None = None, scale: int | None = 0, min_width: int | None = 40,
                size: Literal["sm", "md", "lg"] | None = None) -> gr.Button:
    """A button showing `icon` (and `label`, when given) with `text_hint` as its title."""
    if icon not in ICONS:
        raise KeyError(f"unknown icon {icon!r}")
    hint(elem_id, text_hint)
    classes = ["easel-icon", f"easel-icon-{icon}", *(["tool"] if not label else []), *(extra_classes or [])]
    if label:  # a labelled button takes its share of the row
        return gr.Button(label, elem_id=elem_id, elem_classes=classes, visible=visible, variant=variant,
                         scale=scale or 1, size=size or "lg")
    return gr.Button(label, elem_id=elem_id, elem_classes=classes, visible=visible, variant=variant, scale=scale,
                     min_width=min_width, size=size or "lg")
