"""UNet patches: the one hook through which extensions add inputs to every UNet evaluation (ControlNet residuals,
adapters, ...), without the engine knowing what they are.

A patch is a callable `patch(call: UNetCall) -> dict | None`, listed in `DenoiseInputs.unet_patches` (scripts put
them on the request: `p.unet_patches`, read when a sampling pass starts, so a script may change the list between
the first pass and the hires pass, e.g. in `before_hr`). It is called before each UNet call with what that call
gets and returns extra keyword arguments for `UNet2DConditionModel.forward`, e.g.
`{"down_block_additional_residuals": (...), "mid_block_additional_residual": t}` (diffusers adds the mid residual
only when the down residuals are given too); None (or {}) adds nothing, and
the UNet is then called exactly as without the patch. When several patches return the same key, tensors are
added and tuples/lists of tensors are added element by element (residuals of several models sum); any other
value of a later patch replaces the earlier one. A patch may also return `encoder_hidden_states` or
`added_cond_kwargs` to replace what the engine passes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class SamplingProgress:
    """Where the sampler is, as A1111 reports it to extensions (`state.sampling_step` / `sampling_steps`):
    `step` is the last step the sampler reported (0 until the first report), `total` the steps of this pass
    (txt2img: steps; img2img and the hires pass: the steps actually run)."""

    step: int = 0
    total: int = 1


@dataclass
class UNetCall:
    """One UNet evaluation as a patch sees it. Rows are one image's positive prompts followed by its negative
    prompt (or only positive / only negative rows when their token lengths differ: then there are two calls)."""

    x: torch.Tensor  # (rows, C, h, w) the UNet input: latents scaled for the current sigma, in the UNet's dtype
    timestep: torch.Tensor  # (rows,) the UNet timesteps (fractional for k-diffusion samplers)
    encoder_hidden_states: torch.Tensor  # (rows, tokens, dim)
    added_cond_kwargs: dict[str, torch.Tensor] | None  # SDXL: text_embeds and time_ids; else None
    uncond: tuple[bool, ...]  # per row: True for the negative prompt
    image_index: int  # which image of the current batch these rows belong to
    sampling_step: int
    sampling_steps: int


UNetPatch = Callable[[UNetCall], "dict[str, Any] | None"]


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a + b
    if (isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) and len(a) == len(b)
            and all(isinstance(v, torch.Tensor) for v in (*a, *b))):
        return type(a)(x + y for x, y in zip(a, b))
    return b


def collect(patches: Sequence[UNetPatch], call: UNetCall) -> dict[str, Any]:
    """The extra UNet keyword arguments of all patches for one call (merged as the module docstring says)."""
    extra: dict[str, Any] = {}
    for patch in patches:
        got = patch(call)
        for key, value in (got or {}).items():
            extra[key] = _add(extra[key], value) if key in extra else value
    return extra


__all__ = ["SamplingProgress", "UNetCall", "UNetPatch", "collect"]
