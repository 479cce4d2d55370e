"""What a request may ask for, checked where the request is built and again where the work starts.

`check_request` reads the ranges declared on the request fields (modules/generation/request.py) and adds the
cross-field rules. The worker calls it on the final request, after scripts changed `p`, so neither a script nor
the WebUI can bypass the API's limits (the diffusers `check_inputs` habit).
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

from modules.errors import InvalidRequestError
from modules.generation import hires
from modules.generation.costs import check_costs
from modules.generation.request import GenerationRequest, api_fields


@dataclass(frozen=True)
class Limits:
    """Every bound on one request (flags in parentheses; docs/security.md lists them)."""

    max_size: int = 2048  # width/height (--max-width)
    max_batch_size: int = 16  # (--max-batch-size)
    max_images: int = 64  # batch_size * n_iter, also over a script's generations (4 x --max-batch-size)
    max_steps: int = 150
    max_input_pixels: int = 4096 * 4096  # a decoded input image (--max-input-pixels)
    max_prompt_length: int = 20_000  # characters per prompt field (--max-prompt-length)
    max_prompt_chunks: int = 256  # 75-token chunks one prompt encodes in all (--max-prompt-chunks)
    max_subprompts: int = 16  # AND parts (--max-prompt-subprompts)
    max_styles: int = 32  # (--max-styles)
    max_json_depth: int = 64  # nesting of a JSON body (--max-json-depth)

    @classmethod
    def from_cmd_opts(cls, cmd_opts: Any) -> Limits:
        def flag(name: str, default: int) -> int:
            return int(getattr(cmd_opts, name, default))

        return cls(max_size=flag("max_width", cls.max_size), max_batch_size=flag("max_batch_size", cls.max_batch_size),
                   max_images=flag("max_batch_size", cls.max_batch_size) * 4,
                   max_input_pixels=flag("max_input_pixels", cls.max_input_pixels),
                   max_prompt_length=flag("max_prompt_length", cls.max_prompt_length),
                   max_prompt_chunks=flag("max_prompt_chunks", cls.max_prompt_chunks),
                   max_subprompts=flag("max_prompt_subprompts", cls.max_subprompts),
                   max_styles=flag("max_styles", cls.max_styles),
                   max_json_depth=flag("max_json_depth", cls.max_json_depth))


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The request-cost flags (cmd_args.build_parser)."""
    add = parser.add_argument
    add("--max-prompt-length", type=int, default=Limits.max_prompt_length,
        help="most characters in one prompt field (prompt, negative_prompt, hr_prompt, ...)")
    add("--max-prompt-chunks", type=int, default=Limits.max_prompt_chunks,
        help="most 75-token chunks one prompt may encode in all (BREAK, AND parts and prompt editing count)")
    add("--max-prompt-subprompts", type=int, default=Limits.max_subprompts,
        help="most AND parts in one prompt")
    add("--max-styles", type=int, default=Limits.max_styles, help="most styles named by one request")
    add("--max-json-depth", type=int, default=Limits.max_json_depth,
        help="deepest nesting accepted in a JSON request body")


def check_range(name: str, value: Any, low: float | None, high: float | None) -> None:
    """A number within [low, high] (either bound may be None); the error names the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestError(f"{name} must be a number, got {value!r}", field=name)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequestError(f"{name} must be a finite number, got {value!r}", field=name)
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidRequestError(f"{name} must be between {low} and {high}, got {value}", field=name)


def _bound(value: float | str | None, limits: Limits) -> float | None:
    return getattr(limits, value) if isinstance(value, str) else value


def check_request(p: GenerationRequest, limits: Limits) -> None:
    """Every declared range, then the rules that span fields. Raises InvalidRequestError naming the field."""
    for f, rule in api_fields(p.mode):
        if rule.low is None and rule.high is None:
            continue
        if rule.when is not None and not getattr(p, rule.when):
            continue
        value = getattr(p, f.name)
        if value is None:
            continue
        check_range(f.name, value, _bound(rule.low, limits), _bound(rule.high, limits))
    if p.batch_size * p.n_iter > limits.max_images:
        raise InvalidRequestError(f"batch_size * n_iter must be at most {limits.max_images}", field="n_iter")
    if p.is_img2img and not p.init_images:
        raise InvalidRequestError("init_images: at least one init image is needed", field="init_images")
    if p.mode == "txt2img" and p.enable_hr:
        _check_hires(p, limits)
    check_costs(p, limits)  # prompt cost, seeds, seed resize (modules/generation/costs.py)


def _check_hires(p: GenerationRequest, limits: Limits) -> None:
    valid = hires.upscaler_names()
    if p.hr_upscaler is not None and p.hr_upscaler not in valid:
        raise InvalidRequestError(f"hr_upscaler: unknown upscaler {p.hr_upscaler!r}; valid: {', '.join(valid)}",
                                  field="hr_upscaler")
    width, height = hires.final_size(p.width, p.height, p.hr_scale, p.hr_resize_x, p.hr_resize_y)
    if not (8 <= width <= limits.max_size and 8 <= height <= limits.max_size):
        raise InvalidRequestError(f"hr_scale: the hires size {width}x{height} must be between 8 and {limits.max_size} "
                                  "on each side", field="hr_scale" if not p.hr_resize_x else "hr_resize_x")
