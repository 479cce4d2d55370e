"""Prompt styles from styles.csv (A1111 format: name,prompt,negative_prompt)."""
from __future__ import annotations

import builtins
import csv
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptStyle:
    name: str
    prompt: str = ""
    negative_prompt: str = ""


def merge_prompts(style_prompt: str, prompt: str) -> str:
    """A1111: "{prompt}" in the style is replaced by the prompt; otherwise they are joined with ", "."""
    if "{prompt}" in style_prompt:
        return style_prompt.replace("{prompt}", prompt)
    parts = [p for p in (prompt.strip(), style_prompt.strip()) if p]
    return ", ".join(parts)


class StyleDatabase:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self.styles: dict[str, PromptStyle] = {}
        self.reload()

    def reload(self) -> None:
        styles: dict[str, PromptStyle] = {}
        if self.path.is_file():
            with open(self.path, newline="", encoding="utf-8-sig") as f:
                for row in csv.DictReader(f, skipinitialspace=True):
                    name = (row.get("name") or "").strip()
                    if name:
                        styles[name] = PromptStyle(name, row.get("prompt") or row.get("text") or "",
                                                   row.get("negative_prompt") or "")
        with self._lock:
            self.styles = styles

    def list(self) -> builtins.list[PromptStyle]:
        with self._lock:
            return list(self.styles.values())

    def resolve(self, names: builtins.list[str]) -> builtins.list[tuple[str, str]]:
        """(prompt, negative prompt) of the named styles in order; unknown names are skipped (as A1111 does)
        and logged."""
        with self._lock:
            styles = dict(self.styles)
        found = []
        for name in names:
            style = styles.get(name)
            if style is None:
                logger.warning("prompt style %r not found in %s; skipped", name, self.path.name)
                continue
            found.append((style.prompt, style.negative_prompt))
        return found

    def apply(self, prompt: str, negative_prompt: str, names: builtins.list[str]) -> tuple[str, str]:
        return apply_styles(prompt, negative_prompt, self.resolve(names))


def apply_styles(prompt: str, negative_prompt: str, style_prompts: builtins.list[tuple[str, str]]) -> tuple[str, str]:
    """Merge resolved styles into the prompts, in order (A1111 `apply_styles_to_prompt`)."""
    for style_prompt, style_negative in style_prompts:
        prompt = merge_prompts(style_prompt, prompt)
        negative_prompt = merge_prompts(style_negative, negative_prompt)
    return prompt, negative_prompt
