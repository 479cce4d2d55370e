"""The one interface every prompt expander implements."""
from __future__ import annotations

from abc import ABC, abstractmethod

from bprompt.expander_common import ExpandParams


class PromptExpander(ABC):
    """Turns a short prompt into several detailed ones.

    Implementations receive validated parameters with a concrete seed (`seed >= 0`) and must be
    deterministic for it. They may be called from several threads at once.
    """

    #: Display name, as listed by the registry.
    name: str

    @abstractmethod
    def expand(self, prompt: str, params: ExpandParams) -> list[str]:
        """Return up to `params.count` expanded prompts for the (normalized, non-empty) `prompt`."""

    def unload(self) -> None:
        """Free whatever the expander holds in memory (weights); the next `expand` loads it again."""
