"""Task states, ids and the progress of a running task: the types every queue implementation shares."""
from __future__ import annotations

import enum
import re
import secrets
import string
from dataclasses import dataclass, fields

from modules.errors import InvalidRequestError

_TASK_ID = re.compile(r"^[A-Za-z0-9._()\-]{1,128}$")
PRIORITIES = ("high", "normal", "low")


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
    """Progress of one running task, as data. The worker writes it; readers get copies through the queue."""

    job_count: int = 0
    job_no: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0
    started_at: float | None = None
    preview_family: str = "sd1"
    textinfo: str | None = None
    interrupted: bool = False
    skipped: bool = False

    def copy(self) -> TaskProgress:
        return TaskProgress(**{f.name: getattr(self, f.name) for f in fields(self)})

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
