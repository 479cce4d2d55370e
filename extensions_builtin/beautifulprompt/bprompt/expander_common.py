"""Data shared by every prompt expander: parameters, their limits, the result, and text clean-up."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from modules.errors import InvalidRequestError

BUILTIN_NAME = "Built-in (no model)"
MAX_SEED = 2**32 - 1
MAX_PROMPT_CHARS = 2000

# (minimum, maximum) of each numeric parameter; shared by the API models, the UI sliders and `validated()`.
LIMITS: dict[str, tuple[float, float]] = {
    "count": (1, 16),
    "temperature": (0.05, 4.0),
    "top_k": (0, 1000),
    "top_p": (0.05, 1.0),
    "repetition_penalty": (1.0, 4.0),
    "max_length": (4, 512),
    "seed": (-1, MAX_SEED),
}


@dataclass(frozen=True)
class ExpandParams:
    """Sampling parameters, with the names and meanings of Hugging Face `generate()`.

    Args:
        count (`int`): how many prompts to return (distinct ones for the built-in expander).
        temperature (`float`): higher gives more varied, rarer continuations (and, built in, more terms).
        top_k (`int`): sample only from the `top_k` most likely tokens or vocabulary entries; 0 disables.
        top_p (`float`): nucleus sampling; keep the smallest set whose probability reaches `top_p`.
        repetition_penalty (`float`): > 1 discourages repeats (built in: terms already used in this batch).
        max_length (`int`): new tokens for a language model; total words for the built-in expander.
        seed (`int`): -1 picks a random seed; the one used is reported back.
    """

    count: int = 4
    temperature: float = 0.9
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.2
    max_length: int = 96
    seed: int = -1

    def validated(self) -> ExpandParams:
        """Return self if every value is within `LIMITS`; otherwise raise naming the field."""
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidRequestError(f"{name}: must be a number, got {value!r}", field=name)
            if not low <= value <= high:
                raise InvalidRequestError(f"{name}: must be between {low} and {high}, got {value!r}", field=name)
        return self

    def with_resolved_seed(self, rng: random.Random | None = None) -> ExpandParams:
        """A copy whose `seed` is concrete: -1 becomes a random seed in [0, MAX_SEED]."""
        if self.seed >= 0:
            return self
        return replace(self, seed=(rng or random.SystemRandom()).randint(0, MAX_SEED))


@dataclass(frozen=True)
class ExpandResult:
    """What an expansion produced: the prompts, the backend name and the concrete seed."""

    prompts: list[str]
    model: str
    seed: int


_WS = re.compile(r"\s+")


def normalize_prompt(prompt: str) -> str:
    """The user's prompt as one line: whitespace collapsed, stray separators at the ends removed."""
    return _WS.sub(" ", prompt).strip().strip(",;.").strip()


def check_prompt(prompt: object) -> str:
    """Return the normalized prompt or raise `InvalidRequestError` naming `prompt`."""
    if not isinstance(prompt, str):
        raise InvalidRequestError(f"prompt: must be a string, got {type(prompt).__name__}", field="prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequestError(f"prompt: at most {MAX_PROMPT_CHARS} characters", field="prompt")
    text = normalize_prompt(prompt)
    if not text:
        raise InvalidRequestError("prompt: must not be empty", field="prompt")
    return text


_STOP_MARKERS = ("Instruction:", "Input:", "Output:")


def clean_generated(text: str) -> str:
    """One clean line from a language model's continuation.

    Cuts at an echoed template marker, keeps the first non-empty line, collapses whitespace and trims
    separators; returns "" when nothing useful is left.
    """
    for marker in _STOP_MARKERS:
        index = text.find(marker)
        if index >= 0:
            text = text[:index]
    for line in text.splitlines():
        line = normalize_prompt(line)
        if line:
            return line
    return ""
