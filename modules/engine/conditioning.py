"""Per-step text conditioning built on `prompt_parser` and `PromptEncoder`, as A1111's `get_learned_conditioning`.

A prompt's schedule (prompt editing/alternation) is a list of `(end_at_step, EncodedPrompt)`; the sampling loop
uses the first entry with `step <= end_at_step` (A1111 `reconstruct_cond_batch`), where A1111 passes
`CFGDenoiser.step`: the 0-based count of denoiser calls so far (so `[a:b:3]` uses "a" for calls 0..3, and a
second-order sampler, calling the model twice per step, advances through the schedule twice as fast).

Lengths: prompts longer than 75 tokens give `77 * k` tokens. A1111 1.10 (options `pad_cond_uncond` and
`pad_cond_uncond_v0` both off, the defaults) does not pad cond against uncond: when their lengths differ it runs
the UNet for them separately. Conds of one UNet batch (a batch of prompts, AND parts) are stacked after repeating
the last vector of the shorter ones (`stack_conds`). `pad_to_same_length` implements both padding options.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from modules import prompt_parser
from modules.engine.text_encoder import EncodedPrompt, PromptEncoder


class ScheduledConditioning(NamedTuple):
    """The conditioning used while `step <= end_at_step`."""

    end_at_step: int
    cond: EncodedPrompt


def get_conditioning_schedule(encoder: PromptEncoder, prompts: Sequence[str], steps: int, *,
                              hires_steps: int | None = None, use_old_scheduling: bool = False,
                              is_negative_prompt: bool = False) -> list[list[ScheduledConditioning]]:
    """Encode every prompt's schedule (A1111 `get_learned_conditioning`).

    Args:
        encoder (`PromptEncoder`): the model's prompt encoder.
        prompts (`Sequence[str]`): prompts with extra-network tags removed and, for positives, already AND-split.
        steps (`int`): sampling steps (of the first pass when `hires_steps` is given).
        hires_steps (`int`, *optional*): build the schedule of the hires pass instead.
        use_old_scheduling (`bool`): A1111 "Old prompt editing timelines".
        is_negative_prompt (`bool`): for SDXL an all-empty negative schedule gives zero tensors (A1111/sgm
            `force_zero_embeddings`).

    Returns:
        Per prompt a list of `ScheduledConditioning` sorted by `end_at_step`. The texts of one schedule are encoded
        as one batch (same chunk count; "Original" emphasis normalised over the batch), as in A1111.
    """
    schedules = prompt_parser.get_learned_conditioning_prompt_schedules(list(prompts), steps, hires_steps,
                                                                        use_old_scheduling)
    cache: dict[str, list[ScheduledConditioning]] = {}
    result = []
    for prompt, schedule in zip(prompts, schedules):
        if prompt not in cache:
            texts = [text for _, text in schedule]
            conds = encoder.encode_batch(texts)
            if is_negative_prompt and encoder.family == "sdxl" and all(text == "" for text in texts):
                conds = [EncodedPrompt(torch.zeros_like(c.hidden), torch.zeros_like(c.pooled)) for c in conds]
            cache[prompt] = [ScheduledConditioning(end, cond) for (end, _), cond in zip(schedule, conds)]
        result.append(cache[prompt])
    return result


def get_multicond_schedule(encoder: PromptEncoder, prompts: Sequence[str], steps: int, *,
                           hires_steps: int | None = None, use_old_scheduling: bool = False
                           ) -> list[list[tuple[list[ScheduledConditioning], float]]]:
    """Positive prompts with composable diffusion (A1111 `get_multicond_learned_conditioning`).

    Returns:
        Per prompt a list of `(schedule, weight)`, one per `AND` part; CFG then adds
        `weight * scale * (cond_i - uncond)` for each part.
    """
    indexes, flat_prompts, _ = prompt_parser.get_multicond_prompt_list(list(prompts))
    schedules = get_conditioning_schedule(encoder, flat_prompts, steps, hires_steps=hires_steps,
                                          use_old_scheduling=use_old_scheduling)
    return [[(schedules[index], weight) for index, weight in entry] for entry in indexes]


def conditioning_at_step(schedule: Sequence[ScheduledConditioning], step: int) -> EncodedPrompt:
    """The conditioning for denoiser call `step` (0-based, as A1111's `CFGDenoiser.step`).

    Returns the first entry with `step <= end_at_step`, else the first entry (A1111 `scheduled_conditioning_at_step`).
    """
    for entry in schedule:
        if step <= entry.end_at_step:
            return entry.cond
    return schedule[0].cond


def stack_conds(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack `[T_i, D]` tensors into `[N, T, D]`, repeating the last vector of shorter ones (A1111)."""
    length = max(t.shape[0] for t in tensors)
    padded = [t if t.shape[0] == length else torch.cat([t, t[-1:].repeat(length - t.shape[0], 1)]) for t in tensors]
    return torch.stack(padded)


def pad_to_same_length(cond: torch.Tensor, uncond: torch.Tensor, empty: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Give `[B, T, D]` cond and uncond the same token length.

    Args:
        cond, uncond (`torch.Tensor`): hidden states, lengths multiples of 77.
        empty (`torch.Tensor`, *optional*): `[1, 77, D]` encoding of the empty prompt. When given, the shorter
            tensor is extended with copies of it (A1111 option `pad_cond_uncond`); otherwise the shorter one is
            extended by repeating its last vector (A1111 `pad_cond_uncond_v0`, which however truncates a longer
            uncond instead).
    """
    missing = cond.shape[1] - uncond.shape[1]
    if missing == 0:
        return cond, uncond

    def extend(x: torch.Tensor, count: int) -> torch.Tensor:
        if empty is not None:
            filler = empty.to(x).repeat(x.shape[0], count // empty.shape[1], 1)
        else:
            filler = x[:, -1:].repeat(1, count, 1)
        return torch.cat([x, filler], dim=1)

    return (cond, extend(uncond, missing)) if missing > 0 else (extend(cond, -missing), uncond)
