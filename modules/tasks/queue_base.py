"""The task-queue interface. The in-process FIFO (queue_memory.py) is the default; a Redis Streams queue with
consumer groups (many API processes, many GPU workers) implements the same methods later."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from modules.tasks.common import Task
from modules.tasks.store_base import TaskRecord, TaskStore

FinishedListener = Callable[[TaskRecord], None]


class TaskQueue(ABC):
    """Accepts tasks, runs them on workers, records every transition in `store`."""

    store: TaskStore
    max_waiting: int
    on_finished: list[FinishedListener]

    @abstractmethod
    def start(self) -> None:
        """Recover unfinished records from the store, then start the workers."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the workers (the running task may finish; an unfinished one is re-queued on next start)."""

    @abstractmethod
    def submit(self, task: Task) -> Task:
        """Record and enqueue; QueueFullError past `max_waiting`, ConflictError for a used id."""

    @abstractmethod
    def get(self, task_id: str) -> Task | None:
        """The live task (waiting or running in this process), or None."""

    @property
    @abstractmethod
    def current(self) -> Task | None:
        """The running task (of the first worker), or None."""

    @abstractmethod
    def running(self) -> list[Task]:
        """Every running task (one per worker)."""

    @abstractmethod
    def pending(self) -> list[Task]:
        """Waiting tasks in run order."""

    @abstractmethod
    def cancel(self, task_id: str) -> TaskRecord:
        """Waiting: cancelled at once. Running: stopped at its next step, then cancelled. NotFoundError if unknown."""

    @abstractmethod
    def workers(self) -> list[dict]:
        """One description per worker: name, state, running task id, settings."""
