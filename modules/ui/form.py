"""Named inputs of a Gradio event: components are added under a name (or a list of them under one name) and the
handler gets `{name: value}` back instead of a long positional argument list."""
from __future__ import annotations

from typing import Any


class Form:
    def __init__(self) -> None:
        self._slots: list[tuple[str, int, int]] = []  # (name, start, end); end - start > 1 or a list slot
        self._lists: set[str] = set()
        self.components: list[Any] = []

    def add(self, name: str, component: Any) -> Any:
        start = len(self.components)
        self.components.append(component)
        self._slots.append((name, start, start + 1))
        return component

    def add_list(self, name: str, components: list[Any]) -> None:
        start = len(self.components)
        self.components.extend(components)
        self._slots.append((name, start, len(self.components)))
        self._lists.add(name)

    def values(self, args: tuple | list) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, start, end in self._slots:
            out[name] = list(args[start:end]) if name in self._lists else args[start]
        return out
