"""Task records and per-task progress shared by every queue implementation."""
from __future__ import annotations

import enum
import secrets
import string
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from modules.step_control import StepControl


class TaskStatus(str, enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


def new_task_id(kind: str) -> str:
    """A1111-style id: task(txt2img-XXXXXXX)."""
    alphabet = string.ascii_uppercase + string.digits
    return f"task({kind}-{''.join(secrets.choice(alphabet) for _ in range(7))})"


@dataclass
class TaskProgress:
    """Progress of one task. Written by the worker thread, read by API handlers."""

    job_count: int = 0
    job_no: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0
    started_at: float | None = None
    latents: Any = None  # the latest latents, turned into a preview only when someone asks
    preview_family: str = "sd1"
    textinfo: str | None = None

    def fraction(self) -> float:
        if self.job_count == 0:
            return 0.0
        value = self.job_no / self.job_count
        if self.sampling_steps:
            value += self.sampling_step / self.sampling_steps / self.job_count
        return min(value, 1.0)


@dataclass
class Task:
    kind: str  # txt2img, img2img, extras, ...
    run: Callable[["Task"], Any]
    id: str = ""
    user: str | None = None
    status: TaskStatus = TaskStatus.WAITING
    progress: TaskProgress = field(default_factory=TaskProgress)
    control: StepControl = field(default_factory=StepControl)
    future: Future = field(default_factory=Future)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = new_task_id(self.kind)
