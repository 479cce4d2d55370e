"""The task-queue interface: records in, records and events out, never live objects.

Submitting side (API processes): `submit`, `get`, `wait`, `cancel`, `interrupt`, `skip`, `pending`, `running`,
`progress`, `preview`. Working side (workers, in any process): `claim` hands out a `Job` (the record plus its stop
flags and where its progress goes), `complete` records the outcome. The in-process queue (queue_memory.py) is the
embedded default; a Redis Streams queue for many API and worker processes implements the same methods.
"""
from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modules.errors import NotFoundError
from modules.step_control import StepControl
from modules.tasks.common import TaskProgress, TaskStatus
from modules.tasks.store_base import TaskRecord, TaskStore
from modules.tasks.usage import TaskUsage

FinishedListener = Callable[[TaskRecord], None]
STORE_POLL = 0.1  # seconds between store reads when waiting for a task this process does not run


@dataclass
class Preview:
    """The latest live preview of a running task: an id that grows with each new one, and a base64 image."""

    id: int
    image_b64: str
    fmt: str = "png"


@dataclass
class Job:
    """A claimed task, as the worker holds it. `control` carries interrupt/skip; `report` publishes progress
    (and, when given, the latest latents for the live preview) through the queue that handed out the job."""

    record: TaskRecord
    control: StepControl = field(default_factory=StepControl)
    progress: TaskProgress = field(default_factory=TaskProgress)
    publish: Callable[[Job, Any], None] | None = None
    timed_out: bool = False
    usage: TaskUsage = field(default_factory=TaskUsage)  # what it costs, filled while it runs

    @property
    def id(self) -> str:
        return self.record.id

    def report(self, latents: Any = None) -> None:
        self.progress.interrupted, self.progress.skipped = self.control.interrupted, self.control.skipped
        if self.publish is not None:
            self.publish(self, latents)


class TaskQueue(ABC):
    """Accepts task records, hands them to workers, records every transition in `store`."""

    store: TaskStore
    max_waiting: int
    task_timeout: float  # seconds a worker lets a task run (0: no limit); a worker setting, changeable at run time
    max_delivery: int = 1  # runs of a task that fails with a server error before it fails for good
    on_finished: list[FinishedListener]

    @abstractmethod
    def start(self) -> None:
        """Recover unfinished records from the store (a stored task is simply queued again)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop handing out jobs and wake every waiter."""

    # -- submitting side ----------------------------------------------------------------------------------------
    @abstractmethod
    def submit(self, record: TaskRecord) -> TaskRecord:
        """Record and enqueue; QueueFullError past `max_waiting`, ConflictError for a used id."""

    def get(self, task_id: str) -> TaskRecord | None:
        return self.store.get(task_id)

    async def wait(self, task_id: str, timeout: float | None = None) -> TaskRecord:
        """The record once the task has finished (or, after `timeout` seconds, as it is then)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.store.get(task_id)
            if record is None:
                raise NotFoundError(f"task {task_id!r} not found", field="task_id")
            if record.status.finished or (deadline is not None and time.monotonic() >= deadline):
                return record
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            await self._finished_or(task_id, STORE_POLL if left is None else min(STORE_POLL, left))

    async def _finished_or(self, task_id: str, seconds: float) -> None:
        """Return when `task_id` finishes or after `seconds`; implementations with events return sooner."""
        await asyncio.sleep(seconds)

    @abstractmethod
    def cancel(self, task_id: str) -> TaskRecord:
        """Waiting: cancelled at once. Running: stopped at its next step, then cancelled (durably, so a crash
        before it stops does not bring it back). NotFoundError if unknown."""

    @abstractmethod
    def interrupt(self, task_id: str | None = None) -> str | None:
        """Stop a running task (the given one, else the first running) at its next step, durably (it ends as
        cancelled, its images so far kept, and never runs again). Returns the id interrupted, if any."""

    @abstractmethod
    def skip(self, task_id: str | None = None) -> str | None:
        """End the current batch of a running task (A1111 Skip). Returns the id, if any."""

    @abstractmethod
    def pending(self) -> list[TaskRecord]:
        """Waiting records in run order."""

    @abstractmethod
    def running(self) -> list[TaskRecord]:
        """Running records (one per busy worker)."""

    @abstractmethod
    def progress(self, task_id: str) -> TaskProgress | None:
        """The live progress of a running task (None when it is not running)."""

    @abstractmethod
    def preview(self, task_id: str, fmt: str = "png") -> Preview | None:
        """The latest live preview of a running task, or None."""

    @abstractmethod
    def retry_after(self) -> int:
        """Seconds a client turned away by a full queue should wait."""

    @abstractmethod
    def workers(self) -> list[dict]:
        """One description per worker: name, state, running task id, settings."""

    def waiting_count(self) -> int:
        """How many tasks wait (across every process sharing the queue)."""
        return len(self.pending())

    def dead_letters(self, limit: int = 100) -> list[dict]:
        """Tasks that failed for good, newest first (modules/tasks/dead_letter.py)."""
        from modules.tasks.dead_letter import dead_letter

        return [dead_letter(r) for r in self.store.list(status=[TaskStatus.FAILED], limit=limit)]

    # -- working side -------------------------------------------------------------------------------------------
    @abstractmethod
    def claim(self, worker: str, timeout: float) -> Job | None:
        """The next task for `worker` (waiting -> running), or None after `timeout` seconds without one."""

    @abstractmethod
    def complete(self, job: Job, status: TaskStatus, *, images: list[str] | None = None, info: Any = None,
                 error: str | None = None, error_code: int | None = None) -> TaskRecord | None:
        """Record the outcome (the results are already in the storage) and tell waiters and listeners."""

    def release(self, job: Job) -> None:
        """The worker stops (graceful shutdown) before `job` ended: hand it back. The embedded queue leaves it
        running in the store, so the next start queues it again."""

    def position(self, task_id: str) -> int | None:
        """1-based place of a waiting task in the queue, or None."""
        for i, record in enumerate(self.pending()):
            if record.id == task_id:
                return i + 1
        return None
