"""Task records and per-task progress shared by every queue implementation."""
from __future__ import annotations

import enum
import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from modules.errors import InvalidRequestError
from modules.step_control import StepControl

_TASK_ID = re.compile(r"^[A-Za-z0-9._()\-]{1,128}$")


class TaskStatus(str, enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)


def new_task_id(kind: str) -> str:
    """A1111-style id: task(txt2img-XXXXXXX)."""
    alphabet = string.ascii_uppercase + string.digits
    return f"task({kind}-{''.join(secrets.choice(alphabet) for _ in range(7))})"


def check_task_id(task_id: str, field_name: str = "task_id") -> str:
    """A caller-chosen id must be 1-128 chars of [A-Za-z0-9._()-], not only dots (it becomes a storage folder
    name)."""
    if not isinstance(task_id, str) or not _TASK_ID.match(task_id) or set(task_id) == {"."}:  # "." / "..": folders
        raise InvalidRequestError(f"{field_name}: a task id is 1-128 characters of A-Z a-z 0-9 . _ ( ) -, "
                                  f"got {task_id!r}", field=field_name)
    return task_id


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

    def as_dict(self) -> dict:
        return {"job_count": self.job_count, "job_no": self.job_no, "sampling_step": self.sampling_step,
                "sampling_steps": self.sampling_steps, "fraction": round(self.fraction(), 4)}


@dataclass
class Task:
    """A live task: what the worker runs. Its durable twin is the store's TaskRecord (same id).

    `run(task)` returns the caller's result (set on `future`) and may set `task.outcome`, the JSON-able part
    (stored image keys, info) that the store keeps and async clients read.
    """

    kind: str  # txt2img, img2img, extras, ...
    run: Callable[[Task], Any]
    id: str = ""
    user: str | None = None
    model: str | None = None
    params: dict[str, Any] | None = None  # what is needed to run it again after a restart (None: not replayable)
    summary: dict[str, Any] = field(default_factory=dict)  # shown as "parameters" when params is None
    idempotency_key: str | None = None
    webhook_url: str | None = None
    base_url: str | None = None  # where the submitter reached us: absolute result links for webhooks
    status: TaskStatus = TaskStatus.WAITING
    progress: TaskProgress = field(default_factory=TaskProgress)
    control: StepControl = field(default_factory=StepControl)
    future: Future = field(default_factory=Future)
    outcome: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    timed_out: bool = False
    cancel_requested: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = new_task_id(self.kind)
