"""Prompt styles from styles.csv (A1111 format: name,prompt,negative_prompt).

The file is watched: every read checks its modification time and reloads it when it changed (as the model lists
follow their folders), so a style added by hand or through the FileBrowser is usable at once. The WebUI's style
editor writes it back (`save_style`, `delete_style`), keeping a `.bak` copy as A1111 does.
"""
from __future__ import annotations

import builtins
import csv
import logging
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from modules.errors import InvalidRequestError, NotFoundError

logger = logging.getLogger(__name__)
FIELDS = ("name", "prompt", "negative_prompt")
MAX_STYLE_CHARS = 20000
_SPACES = re.compile("  +")


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


def strip_style_text(style_text: str, prompt: str) -> tuple[bool, str]:
    """Undo `merge_prompts(style_text, x)`: (matched, x). A1111 `extract_style_text_from_prompt`: a style with
    "{prompt}" matches a prompt that starts and ends with the text around it; another style matches a prompt that
    ends with it (and the ", " joining them goes too). Runs of spaces count as one."""
    text = _SPACES.sub(" ", prompt.strip())
    style = _SPACES.sub(" ", style_text.strip())
    if "{prompt}" in style:
        left, right = style.split("{prompt}", 1)
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) + len(right):
            return True, text[len(left):len(text) - len(right)]
        return False, prompt
    if text.endswith(style):
        rest = text[:len(text) - len(style)]
        return True, rest[:-2] if rest.endswith(", ") else rest
    return False, prompt


def strip_style(style: PromptStyle, prompt: str, negative_prompt: str) -> tuple[bool, str, str]:
    """A style matches when both its prompt and its negative prompt are found (A1111 `extract_original_prompts`);
    a style with neither never matches."""
    if not style.prompt and not style.negative_prompt:
        return False, prompt, negative_prompt
    matched, positive = strip_style_text(style.prompt, prompt)
    if not matched:
        return False, prompt, negative_prompt
    matched, negative = strip_style_text(style.negative_prompt, negative_prompt)
    if not matched:
        return False, prompt, negative_prompt
    return True, positive, negative


def extract_styles(styles: list[PromptStyle], prompt: str, negative_prompt: str) -> tuple[list[str], str, str]:
    """The styles a prompt was made with, in the order they were applied, and the prompts without them
    (A1111 `StyleDatabase.extract_styles_from_prompt`: the last applied style is peeled off first)."""
    remaining = list(styles)
    found: list[str] = []
    while True:
        for style in remaining:
            matched, new_prompt, new_negative = strip_style(style, prompt, negative_prompt)
            if matched:
                prompt, negative_prompt = new_prompt, new_negative
                remaining.remove(style)
                found.append(style.name)
                break
        else:
            return list(reversed(found)), prompt, negative_prompt


class StyleDatabase:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        self.styles: dict[str, PromptStyle] = {}
        self._stamp: tuple[float, int] | None = None
        self.reload()

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime, st.st_size

    def reload(self) -> None:
        styles: dict[str, PromptStyle] = {}
        stamp = self._file_stamp()
        if self.path.is_file():
            try:
                with open(self.path, newline="", encoding="utf-8-sig") as f:
                    for row in csv.DictReader(f, skipinitialspace=True):
                        name = (row.get("name") or "").strip()
                        if name and not name.startswith("#"):
                            styles[name] = PromptStyle(name, row.get("prompt") or row.get("text") or "",
                                                       row.get("negative_prompt") or "")
            except (OSError, UnicodeDecodeError, csv.Error) as e:
                logger.error("cannot read %s (%s); keeping the styles loaded before", self.path, e)
                return
        with self._lock:
            self.styles = styles
            self._stamp = stamp

    def reload_if_changed(self) -> bool:
        """Reload when the file's modification time or size changed since it was read; True when it did."""
        stamp = self._file_stamp()
        with self._lock:
            if stamp == self._stamp:
                return False
        self.reload()
        logger.info("styles: %s changed, %d style(s) loaded", self.path.name, len(self.styles))
        return True

    def list(self) -> builtins.list[PromptStyle]:
        self.reload_if_changed()
        with self._lock:
            return list(self.styles.values())

    def get(self, name: str) -> PromptStyle | None:
        self.reload_if_changed()
        with self._lock:
            return self.styles.get(name)

    def resolve(self, names: builtins.list[str]) -> builtins.list[tuple[str, str]]:
        """(prompt, negative prompt) of the named styles in order; unknown names are skipped (as A1111 does)
        and logged."""
        self.reload_if_changed()
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

    def extract_styles_from_prompt(self, prompt: str, negative_prompt: str) -> tuple[builtins.list[str], str, str]:
        return extract_styles(self.list(), prompt, negative_prompt)

    # -- editing (the WebUI's style editor) ----------------------------------------------------------------------
    def save_style(self, name: str, prompt: str, negative_prompt: str) -> PromptStyle:
        """Create or replace a style and write styles.csv."""
        name = (name or "").strip()
        if not name or name.startswith("#"):
            raise InvalidRequestError("style name: give a name (not starting with #)", field="name")
        for label, text in (("name", name), ("prompt", prompt), ("negative_prompt", negative_prompt)):
            if len(text or "") > MAX_STYLE_CHARS:
                raise InvalidRequestError(f"style {label}: longer than {MAX_STYLE_CHARS} characters", field=label)
        style = PromptStyle(name, prompt or "", negative_prompt or "")
        with self._lock:
            self.reload_if_changed()
            self.styles[name] = style
            self._write()
        return style

    def delete_style(self, name: str) -> None:
        with self._lock:
            self.reload_if_changed()
            if name not in self.styles:
                raise NotFoundError(f"style {name!r} not found", field="name")
            del self.styles[name]
            self._write()

    def _write(self) -> None:
        if self.path.exists():
            shutil.copy(self.path, self.path.with_name(self.path.name + ".bak"))
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8-sig") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            for style in self.styles.values():
                writer.writerow({"name": style.name, "prompt": style.prompt, "negative_prompt": style.negative_prompt})
        tmp.replace(self.path)
        self._stamp = self._file_stamp()
        logger.info("styles: wrote %d style(s) to %s", len(self.styles), self.path.name)


def apply_styles(prompt: str, negative_prompt: str, style_prompts: builtins.list[tuple[str, str]]) -> tuple[str, str]:
    """Merge resolved styles into the prompts, in order (A1111 `apply_styles_to_prompt`)."""
    for style_prompt, style_negative in style_prompts:
        prompt = merge_prompts(style_prompt, prompt)
        negative_prompt = merge_prompts(style_negative, negative_prompt)
    return prompt, negative_prompt


INFOTEXT_STYLES_MODES = ["Ignore", "Apply", "Discard", "Apply if any"]
"""The `infotext_styles` option (A1111 "Infer styles from prompts of pasted infotext")."""


def parse_infotext(text: str, styles: StyleDatabase | None, mode: str = "Apply if any") -> dict[str, object]:
    """`parse_generation_parameters` plus A1111's style inference: unless `mode` is "Ignore", the styles found at
    the ends of the prompts are taken off them; "Apply" always gives "Styles array" (the names, maybe none),
    "Apply if any" only when some were found, "Discard" never."""
    from modules.infotext import parse_generation_parameters

    params = parse_generation_parameters(text)
    if styles is None or mode == "Ignore":
        return params
    found, prompt, negative = styles.extract_styles_from_prompt(str(params.get("Prompt", "")),
                                                                str(params.get("Negative prompt", "")))
    params["Prompt"], params["Negative prompt"] = prompt, negative
    if mode == "Apply" or (mode == "Apply if any" and found):
        params["Styles array"] = found
    return params
