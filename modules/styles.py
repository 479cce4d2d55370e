"""Prompt styles from styles.csv (A1111 format: name,prompt,negative_prompt)."""
from __future__ import annotations

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

    def list(self) -> list[PromptStyle]:
        with self._lock:
            return list(self.styles.values())

    def apply(self, prompt: str, negative_prompt: str, names: list[str]) -> tuple[str, str]:
        """Apply the named styles in order; unknown names are skipped (as A1111 does) and logged."""
        with self._lock:
            styles = dict(self.styles)
        for name in names:
            style = styles.get(name)
            if style is None:
                logger.warning("prompt style %r not found in %s; skipped", name, self.path.name)
                continue
            prompt = merge_prompts(style.prompt, prompt)
            negative_prompt = merge_prompts(style.negative_prompt, negative_prompt)
        return prompt, negative_prompt
