"""What one generation request may cost (docs/security.md, "Limits"); modules/generation/limits.py applies it.

Prompt cost: each prompt field is at most `--max-prompt-length` characters, splits into at most
`--max-prompt-subprompts` AND parts, and encodes at most `--max-prompt-chunks` 75-token chunks in all, where a
part's cost is (prompt-editing schedule entries) x (chunks of its longest entry; every BREAK starts one). Tokens
are counted as CLIP pre-tokens (words, single digits, punctuation runs), which never exceeds the real token count,
so a refused prompt is certainly over the limit. Seeds are -1 (random) or 0..MAX_SEED; `seed_resize_from_*` is
-1/0 (off) or up to the size limit. Selectable scripts that expand one request into several generations (Prompt
matrix, X/Y/Z plot, Prompts from file) describe their generations through `Script.plan`; each planned generation
is checked like a request and their images count against the image cap up front. At run time the generation
service also stops a task whose generations pass the cap (for scripts without `plan`).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from modules import extra_networks, prompt_parser
from modules.errors import InvalidRequestError

if TYPE_CHECKING:
    from modules.generation.limits import Limits

CHUNK_TOKENS = 75
_PRETOKEN = re.compile(r"'(?:s|t|re|ve|m|ll|d)|[^\W\d_]+|\d|(?:[^\s\w]|_)+", re.IGNORECASE)
_PROMPT_FIELDS = ("prompt", "negative_prompt", "hr_prompt", "hr_negative_prompt")
_FLOAT_FIELDS = ("cfg_scale", "subseed_strength", "denoising_strength", "eta", "s_min_uncond", "s_churn", "s_tmax",
                 "s_tmin", "s_noise", "hr_scale", "image_cfg_scale", "initial_noise_multiplier")


def _fail(field: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}: {message}", field=field)


def chunk_estimate(text: str) -> int:
    """75-token chunks `text` needs at least (extra-network tags are not encoded; each BREAK closes a chunk)."""
    text, _ = extra_networks.parse_extra_networks(text)
    chunks, tokens = 0, 0
    for piece, weight in prompt_parser.parse_prompt_attention(text):
        if piece == "BREAK" and weight == -1:
            chunks += max(1, math.ceil(tokens / CHUNK_TOKENS))
            tokens = 0
        else:
            tokens += len(_PRETOKEN.findall(piece))
    return chunks + max(1, math.ceil(tokens / CHUNK_TOKENS))


def subprompts(text: str, *, multicond: bool) -> list[str]:
    """The AND parts of a positive prompt (a negative prompt is one part)."""
    return [t for t, _ in prompt_parser.split_multicond(text)] if multicond else [text]


def encode_cost(parts: list[str], steps: int) -> int:
    """Chunks encoded in all for these parts sampled for `steps` steps (identical parts are encoded once; every
    entry of a part's prompt-editing schedule is padded to the chunk count of its longest one)."""
    total = 0
    for part in dict.fromkeys(parts):
        schedule = prompt_parser.get_learned_conditioning_prompt_schedules([part], steps)[0]
        total += len(schedule) * max(chunk_estimate(t) for t in dict.fromkeys(entry for _, entry in schedule))
    return total


def check_prompts(p: Any, limits: Limits) -> None:
    steps = max(int(getattr(p, "steps", 1) or 1), int(getattr(p, "hr_second_pass_steps", 0) or 0))
    for name in _PROMPT_FIELDS:
        text = getattr(p, name, None)
        if not text:
            continue
        if not isinstance(text, str):
            raise _fail(name, f"expected a string, got {type(text).__name__}")
        if len(text) > limits.max_prompt_length:
            raise _fail(name, f"{len(text)} characters, more than the {limits.max_prompt_length} allowed "
                              "(--max-prompt-length)")
        parts = subprompts(text, multicond="negative" not in name)
        if len(parts) > limits.max_subprompts:
            raise _fail(name, f"{len(parts)} AND parts, more than the {limits.max_subprompts} allowed "
                              "(--max-prompt-subprompts)")
        chunks = encode_cost(parts, steps)
        if chunks > limits.max_prompt_chunks:
            raise _fail(name, f"encodes at least {chunks} chunks of 75 tokens (BREAK, AND and prompt editing "
                              f"included), more than the {limits.max_prompt_chunks} allowed (--max-prompt-chunks)")
    styles = getattr(p, "styles", None) or []
    if len(styles) > limits.max_styles:
        raise _fail("styles", f"{len(styles)} styles, more than the {limits.max_styles} allowed (--max-styles)")
    for style in styles:
        if not isinstance(style, str) or len(style) > 1024:
            raise _fail("styles", "each style is a name of at most 1024 characters")


def check_costs(p: Any, limits: Limits) -> None:
    """Refuse (422 naming the field) a generation whose floats are not finite or whose prompts cost too much; the
    declared ranges (seeds, sizes, steps) are checked by modules/generation/limits.py."""
    for name in _FLOAT_FIELDS:
        value = getattr(p, name, None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise _fail(name, f"must be a finite number, got {value!r}")
    check_prompts(p, limits)


def check_plan(plan: Iterable[Any] | None, limits: Limits, *, script: str) -> int:
    """Check every generation a script plans (lazily: stops at the first one past the image cap); returns the
    number of images planned (0 when the script has no plan)."""
    if plan is None:
        return 0
    from modules.generation.limits import check_request

    total = 0
    for cell in plan:
        total += int(getattr(cell, "batch_size", 1)) * int(getattr(cell, "n_iter", 1))
        if total > limits.max_images:
            raise _fail("script_args", f"{script} makes more than {limits.max_images} images (the image cap: "
                                       "batch_size * n_iter of every generation it runs)")
        check_request(cell, limits)
    return total


class ImageBudget:
    """Run-time backstop: the images a task's generations ask for, against the image cap."""

    def __init__(self, max_images: int):
        self.max_images = max_images
        self.used = 0

    def charge(self, p: Any) -> None:
        self.used += int(getattr(p, "batch_size", 1)) * int(getattr(p, "n_iter", 1))
        if self.used > self.max_images:
            raise _fail("script_args", f"this request's generations ask for more than {self.max_images} images "
                                       "(the image cap)")
