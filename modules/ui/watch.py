"""Components that follow the server: one light poll (and a run on every page load) sends a component an
update only when what it shows changed: the choices of a picker (new checkpoints, VAEs, styles, ...), the value
of an option (changed by the API, or by the checkpoint fallback), a notice line. Each browser tab keeps what it
was last sent in its own state, so a page load always gets the saved values."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

POLL_SECONDS = 3.0


@dataclass
class _Entry:
    component: Any
    choices: Callable[[], list] | None = None
    value: Callable[[], Any] | None = None
    text: Callable[[], str] | None = None

    def snapshot(self) -> tuple:
        return (list(self.choices()) if self.choices else None, self.value() if self.value else None,
                self.text() if self.text else None)

    def update(self, now: tuple, seen: tuple | None) -> Any:
        choices, value, text = now
        if self.text is not None:
            return text
        kwargs = {}
        if self.choices is not None and (seen is None or seen[0] != choices):
            kwargs["choices"] = choices
        if self.value is not None and (seen is None or seen[1] != value):
            kwargs["value"] = value
        if not kwargs:
            return gr.skip()
        return gr.Dropdown(**kwargs) if self.choices is not None else gr.update(**kwargs)


class Watcher:
    def __init__(self, seconds: float = POLL_SECONDS):
        self.seconds = seconds
        self.entries: list[_Entry] = []

    def follow(self, component: Any, choices: Callable[[], list], value: Callable[[], Any] | None = None) -> None:
        """A picker whose choices (and, with `value`, selection) follow the server."""
        self.entries.append(_Entry(component, choices=choices, value=value))

    def value(self, component: Any, value: Callable[[], Any]) -> None:
        self.entries.append(_Entry(component, value=value))

    def notice(self, component: Any, text: Callable[[], str]) -> None:
        self.entries.append(_Entry(component, text=text))

    def wire(self, demo: gr.Blocks) -> None:
        if not self.entries:
            return
        entries = list(self.entries)
        seen = gr.State(None)

        def tick(last: list | None):
            last = last if isinstance(last, list) and len(last) == len(entries) else [None] * len(entries)
            updates, now_all = [], []
            for entry, before in zip(entries, last):
                now = entry.snapshot()
                now_all.append(now)
                updates.append(gr.skip() if now == before else entry.update(now, before))
            return [*updates, now_all]

        outputs = [e.component for e in entries] + [seen]
        timer = gr.Timer(self.seconds)
        timer.tick(tick, [seen], outputs, api_visibility="private", show_progress="hidden", queue=False)
        demo.load(tick, [seen], outputs, api_visibility="private", show_progress="hidden", queue=False)
