"""Turns a batch's prompts into per-step conditioning (prompt editing, alternation, AND weights)."""
from __future__ import annotations

import re
from collections.abc import Callable

import torch

from modules import prompt_parser
from modules.engine.sampling import Cond, StepConds
from modules.engine.text_encoder import PromptEncoder

Schedule = list[tuple[int, Cond]]

_RE_AND = re.compile(r"\bAND\b")
_RE_WEIGHT = re.compile(r"^((?:\s|.)*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")


def split_and(prompt: str) -> list[tuple[str, float]]:
    """Composable diffusion (A1111): `a AND b:0.5` -> [("a", 1.0), ("b", 0.5)]; positive prompts only."""
    parts = []
    for sub in _RE_AND.split(prompt):
        match = _RE_WEIGHT.search(sub)
        text, weight = match.groups() if match is not None else (sub, None)
        parts.append((text, float(weight) if weight is not None else 1.0))
    return parts


def _pick(schedule: Schedule, step: int) -> Cond:
    for end_at_step, cond in schedule:
        if step <= end_at_step:
            return cond
    return schedule[-1][1]


class ConditioningBuilder:
    """Encodes prompts with a model's text encoder(s); one instance per generation."""

    def __init__(self, encoder: PromptEncoder, family: str):
        self.encoder = encoder
        self.family = family
        self._cache: dict[str, Cond] = {}

    @classmethod
    def for_pipe(cls, pipe, family: str, options) -> "ConditioningBuilder":
        encoder = PromptEncoder(
            pipe.tokenizer, pipe.text_encoder,
            tokenizer_2=getattr(pipe, "tokenizer_2", None), text_encoder_2=getattr(pipe, "text_encoder_2", None),
            emphasis=options.get("emphasis"), clip_skip=int(options.get("CLIP_stop_at_last_layers")),
            comma_padding_backtrack=int(options.get("comma_padding_backtrack")),
        )
        return cls(encoder, family)

    def encode(self, text: str) -> Cond:
        cond = self._cache.get(text)
        if cond is None:
            encoded = self.encoder.encode(text)
            pooled = encoded.pooled[0] if encoded.pooled is not None else None
            cond = Cond(encoded.hidden[0], pooled)
            self._cache[text] = cond
        return cond

    def empty_chunk(self) -> torch.Tensor:
        return self.encode("").hidden

    def _schedules(self, prompts: list[str], steps: int) -> list[Schedule]:
        raw = prompt_parser.get_learned_conditioning_prompt_schedules(prompts, steps)
        return [[(end, self.encode(text)) for end, text in schedule] for schedule in raw]

    def schedule(self, prompts: list[str], negative_prompts: list[str], steps: int) -> Callable[[int], StepConds]:
        """A function from step index (0-based, counting from the first step of the full schedule) to conds."""
        uncond = self._schedules(negative_prompts, steps)
        positives: list[list[tuple[Schedule, float]]] = []
        for prompt in prompts:
            parts = split_and(prompt)
            texts = [text for text, _ in parts]
            schedules = self._schedules(texts, steps)
            positives.append([(s, w) for s, (_, w) in zip(schedules, parts)])

        def conds_at(step: int) -> StepConds:
            return StepConds(
                uncond=[_pick(s, step) for s in uncond],
                conds=[[(_pick(s, step), w) for s, w in parts] for parts in positives],
            )

        return conds_at

    def time_ids(self, width: int, height: int) -> torch.Tensor | None:
        """SDXL micro-conditioning: original size, crop (0, 0), target size."""
        if self.family != "sdxl":
            return None
        return torch.tensor([height, width, 0, 0, height, width], dtype=torch.float32)
