"""Cooperative stop flags shared by the task queue and the sampling loop (no torch import here)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class StepControl:
    """Checked between sampling steps: `interrupted` stops the job, `skipped` ends the current batch."""

    interrupted: bool = False
    skipped: bool = False
    on_step: Callable[[int, int, Any], None] | None = None

    def stop_requested(self) -> bool:
        return self.interrupted or self.skipped
