"""Turns a batch's prompts into per-step conditioning (prompt editing, alternation, AND weights)."""
from __future__ import annotations

from collections.abc import Callable

import torch

from modules.engine.conditioning import (
    ScheduledConditioning,
    conditioning_at_step,
    get_conditioning_schedule,
    get_multicond_schedule,
)
from modules.engine.sampling import Cond, StepConds
from modules.engine.text_encoder import EncodedPrompt, PromptEncoder


def _as_cond(encoded: EncodedPrompt) -> Cond:
    return Cond(encoded.hidden[0], encoded.pooled[0] if encoded.pooled is not None else None)


class ConditioningBuilder:
    """Encodes prompts with a model's text encoder(s); one instance per generation."""

    def __init__(self, encoder: PromptEncoder, family: str, use_old_scheduling: bool = False):
        self.encoder = encoder
        self.family = family
        self.use_old_scheduling = use_old_scheduling
        self._empty: torch.Tensor | None = None

    @classmethod
    def for_pipe(cls, pipe, family: str, options, embeddings=None) -> ConditioningBuilder:
        encoder = PromptEncoder(
            pipe.tokenizer, pipe.text_encoder,
            tokenizer_2=getattr(pipe, "tokenizer_2", None), text_encoder_2=getattr(pipe, "text_encoder_2", None),
            emphasis=options.get("emphasis"), clip_skip=int(options.get("CLIP_stop_at_last_layers")),
            comma_padding_backtrack=int(options.get("comma_padding_backtrack")), family=family,
            embeddings=embeddings,
        )
        return cls(encoder, family, bool(options.get("use_old_scheduling")))

    def empty_chunk(self) -> torch.Tensor:
        """The encoding of an empty prompt (77 tokens), appended to shorter conditionings in one UNet batch."""
        if self._empty is None:
            self._empty = self.encoder.encode("").hidden[0]
        return self._empty

    def schedule(self, prompts: list[str], negative_prompts: list[str], steps: int,
                 hires_steps: int | None = None) -> Callable[[int], StepConds]:
        """A function from step index (0-based, counting from the first step of the full schedule) to conds."""
        kwargs = {"hires_steps": hires_steps, "use_old_scheduling": self.use_old_scheduling}
        uncond = get_conditioning_schedule(self.encoder, negative_prompts, steps, is_negative_prompt=True, **kwargs)
        positives = get_multicond_schedule(self.encoder, prompts, steps, **kwargs)

        def at(schedule: list[ScheduledConditioning], step: int) -> Cond:
            return _as_cond(conditioning_at_step(schedule, step))

        def conds_at(step: int) -> StepConds:
            return StepConds(
                uncond=[at(s, step) for s in uncond],
                conds=[[(at(s, step), weight) for s, weight in parts] for parts in positives],
            )

        return conds_at

    def time_ids(self, width: int, height: int) -> torch.Tensor | None:
        """SDXL micro-conditioning: original size, crop (0, 0), target size."""
        if self.family != "sdxl":
            return None
        return torch.tensor([height, width, 0, 0, height, width], dtype=torch.float32)
