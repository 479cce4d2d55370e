"""A1111's file and folder name patterns (`samples_filename_pattern`, `directories_filename_pattern`): `[seed]`,
`[prompt]`, `[date]` and friends, each replaced by the image's value and made safe for a file name. Unknown tokens
stay as written (A1111 does the same). Deviation: outputs are written through the storage interface, whose keys
allow only `A-Z a-z 0-9 . _ ( ) -`, so every other character (spaces, `,`, non-ASCII) becomes `_`. Torch-free."""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_PART = 128  # A1111 max_filename_part_length
_NOT_IN_KEYS = re.compile(r"[^A-Za-z0-9._()\-]")
_TOKEN = re.compile(r"\[(\w+)(?:<([^>]*)>)?\]")
_DEFAULT_DATETIME = "%Y%m%d%H%M%S"


def sanitize(text: str, *, replace_spaces: bool = True) -> str:
    """A1111 `sanitize_filename_part`: no path separators or reserved characters, at most MAX_PART characters,
    no leading/trailing dots or spaces."""
    text = text.strip()
    if replace_spaces:
        text = text.replace(" ", "_")
    text = _NOT_IN_KEYS.sub("_", text)[:MAX_PART]
    return text.strip(".") or ""


@dataclass
class NameContext:
    """What a pattern can name for one image."""

    seed: int | None = None
    prompt: str = ""
    negative_prompt: str = ""
    p: Any = None  # the GenerationRequest (steps, cfg_scale, size, sampler, styles, all_seeds, checkpoint)
    model_name: str = ""
    model_hash: str = ""
    batch_number: int = 0
    generation_number: int = 0
    now: float = field(default_factory=time.time)


def _words(text: str, limit: int = 20) -> str:
    words = [w for w in re.split(r"[\s,()\[\]]+", text) if w]
    return " ".join(words[:limit]) or "empty"


def _attr(name: str) -> Callable[[NameContext], Any]:
    return lambda c: getattr(c.p, name, "") if c.p is not None else ""


TOKENS: dict[str, Callable[[NameContext], Any]] = {
    "seed": lambda c: c.seed if c.seed is not None else "",
    "seed_first": lambda c: (getattr(c.p, "all_seeds", None) or [c.seed])[0],
    "seed_last": lambda c: (getattr(c.p, "all_seeds", None) or [c.seed])[-1],
    "steps": _attr("steps"),
    "cfg": _attr("cfg_scale"),
    "width": _attr("width"),
    "height": _attr("height"),
    "sampler": _attr("sampler_name"),
    "scheduler": _attr("scheduler"),
    "denoising": _attr("denoising_strength"),
    "styles": lambda c: ", ".join(getattr(c.p, "styles", None) or []) or "None",
    "model_name": lambda c: c.model_name,
    "model_hash": lambda c: c.model_hash,
    "prompt": lambda c: sanitize(c.prompt),
    "prompt_spaces": lambda c: sanitize(c.prompt, replace_spaces=False),
    "prompt_words": lambda c: sanitize(_words(c.prompt), replace_spaces=False),
    "prompt_no_styles": lambda c: sanitize(getattr(c.p, "prompt", c.prompt) or ""),
    "negative_prompt": lambda c: sanitize(c.negative_prompt),
    "batch_number": lambda c: c.batch_number,
    "generation_number": lambda c: c.generation_number,
    "job_timestamp": lambda c: time.strftime(_DEFAULT_DATETIME, time.localtime(c.now)),
    "none": lambda c: "",
}


def apply_pattern(pattern: str, ctx: NameContext) -> str:
    """`pattern` with every known token replaced; `[date]` is YYYY-MM-DD, `[datetime<%H%M>]` takes a strftime
    format. The result is safe as one path part (no separators)."""
    def replace(match: re.Match) -> str:
        name, arg = match.group(1).lower(), match.group(2)
        if name == "date":
            return time.strftime(arg or "%Y-%m-%d", time.localtime(ctx.now))
        if name == "datetime":
            return time.strftime(arg or _DEFAULT_DATETIME, time.localtime(ctx.now))
        token = TOKENS.get(name)
        if token is None:
            return match.group(0)
        return sanitize(str(token(ctx)), replace_spaces=False)

    return sanitize(_TOKEN.sub(replace, pattern or ""), replace_spaces=False)


def context_for(p: Any, index: int, seed: int | None, *, model_name: str = "", model_hash: str = "") -> NameContext:
    prompts = getattr(p, "all_prompts", None) or [getattr(p, "prompt", "")]
    negatives = getattr(p, "all_negative_prompts", None) or [getattr(p, "negative_prompt", "")]
    batch_size = max(1, int(getattr(p, "batch_size", 1) or 1))
    return NameContext(seed=seed, prompt=prompts[min(index, len(prompts) - 1)] if prompts else "",
                       negative_prompt=negatives[min(index, len(negatives) - 1)] if negatives else "", p=p,
                       model_name=model_name, model_hash=model_hash, batch_number=index % batch_size,
                       generation_number=index)
