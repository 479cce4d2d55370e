"""The durable side of tasks: records, per-task progress, the result stream (sink) and webhook attempts.

`TaskStore` is the interface; `SqliteTaskStore` (store_sqlite.py) is the embedded default. A Redis- or
database-backed store for many API and worker processes implements the same methods.
"""
from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from modules.tasks.common import TaskStatus
from modules.tasks.usage import TaskUsage


@dataclass
class TaskRecord:
    """One task, as data: what to run (`kind` + `payload`, input images by storage key) and what came of it.

    Any process that reaches the store and the storage can run it: the handler registered for `kind` reads
    `payload`. `params` is the request as the client sent it (without images), echoed back as "parameters".
    """

    id: str
    kind: str
    user: str | None = None
    model: str | None = None  # the checkpoint title the task needs (None: any)
    priority: str = "normal"
    status: TaskStatus = TaskStatus.WAITING
    progress: float = 0.0
    progress_state: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    inputs: builtins.list[str] = field(default_factory=list)  # storage keys of the input images
    images: builtins.list[str] = field(default_factory=list)  # storage keys of the results
    info: Any = None
    error: str | None = None
    error_code: int | None = None  # the HTTP status of the error (422 for a request the worker refused)
    runs: int = 0  # how many times a worker started it (a crash mid-run leaves 1: re-queued once)
    cancel_requested: bool = False  # a cancel reached it while it ran: never re-queued, even after a crash
    idempotency_key: str | None = None
    webhook_url: str | None = None
    base_url: str | None = None
    webhook: dict[str, Any] = field(default_factory=dict)  # {"state": ..., "attempts": [...]}
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0
    purged_at: float | None = None  # when retention deleted its stored outputs and inputs (the summary stays)
    usage: TaskUsage | None = None  # what running it cost (modules/tasks/usage.py); None until a worker ran it


@dataclass
class SinkItem:
    """One finished task in the result stream, at a stable, increasing index."""

    index: int
    task_id: str
    user: str | None
    created_at: float


class TaskStore(ABC):
    """Task records. Every method is thread-safe."""

    @abstractmethod
    def create(self, record: TaskRecord) -> TaskRecord:
        """Insert a new record; ConflictError when the id is taken."""

    @abstractmethod
    def get(self, task_id: str) -> TaskRecord | None:
        """The record, or None."""

    @abstractmethod
    def find_idempotent(self, user: str | None, key: str, since: float) -> TaskRecord | None:
        """The newest task of `user` submitted with Idempotency-Key `key` after `since`."""

    @abstractmethod
    def list(self, *, user: str | None = None, status: builtins.list[TaskStatus] | None = None, limit: int = 100,
             offset: int = 0) -> builtins.list[TaskRecord]:
        """Records, newest first, optionally of one user and some statuses."""

    @abstractmethod
    def list_unfinished(self) -> builtins.list[TaskRecord]:
        """Waiting and running records, oldest first (what a restarted worker must deal with)."""

    @abstractmethod
    def count(self, status: TaskStatus) -> int:
        """How many tasks have `status`."""

    @abstractmethod
    def mark_running(self, task_id: str, started_at: float) -> TaskRecord | None:
        """waiting -> running (and runs += 1); None when the task is no longer waiting."""

    @abstractmethod
    def set_progress(self, task_id: str, fraction: float, state: dict[str, Any]) -> None:
        """Record the progress of a running task."""

    @abstractmethod
    def finish(self, task_id: str, status: TaskStatus, *, images: builtins.list[str] | None = None, info: Any = None,
               error: str | None = None, error_code: int | None = None, finished_at: float) -> SinkItem | None:
        """Record the final state and append it to the result stream; None when it had already finished."""

    @abstractmethod
    def requeue(self, task_id: str) -> None:
        """running -> waiting (after a crash); a record whose cancel was requested stays as it is."""

    @abstractmethod
    def request_cancel(self, task_id: str) -> bool:
        """Record, durably, that an unfinished task was asked to stop; False when it had already finished."""

    @abstractmethod
    def record_webhook(self, task_id: str, webhook: dict[str, Any]) -> None:
        """Replace the webhook delivery state of a task (attempts included)."""

    @abstractmethod
    def sink_read(self, *, after: int, user: str | None, consumer: str, limit: int) -> builtins.list[SinkItem]:
        """Stream items with index > `after` (of `user`, when given) that `consumer` has not committed."""

    @abstractmethod
    def sink_commit(self, consumer: str, indexes: builtins.list[int]) -> int:
        """Acknowledge items for `consumer`; returns how many were newly committed."""

    @abstractmethod
    def sink_last_index(self) -> int:
        """The index of the newest stream item (0 when empty)."""

    @abstractmethod
    def list_purgeable(self, finished_before: float, limit: int) -> builtins.list[TaskRecord]:
        """Finished records (any final status) that finished before `finished_before` and were not purged yet,
        oldest first (what the retention sweep works through)."""

    @abstractmethod
    def mark_purged(self, task_id: str, *, params: dict[str, Any] | None, purged_at: float) -> None:
        """Forget a finished task's stored outputs: `images` and `urls` emptied, `params` replaced (its inputs
        scrubbed), `purged_at` set; summary, info, error and timestamps stay."""

    # -- usage (cost allocation) and the result cache: a store that lacks them answers NotImplementedError ------
    def record_usage(self, task_id: str, usage: TaskUsage) -> None:
        """Record what running the task cost (the worker calls it before completing the task)."""
        raise NotImplementedError(f"{type(self).__name__} does not record task usage")

    def list_usage(self, *, since: float | None = None, until: float | None = None,
                   user: str | None = None) -> builtins.list[TaskRecord]:
        """Finished records with usage whose `finished_at` lies in [since, until), oldest first."""
        raise NotImplementedError(f"{type(self).__name__} does not record task usage")

    def set_result_key(self, task_id: str, key: str) -> None:
        """Remember the --result-cache key of a task (identical requests have equal keys)."""
        raise NotImplementedError(f"{type(self).__name__} has no result cache")

    def find_result(self, user: str | None, key: str) -> TaskRecord | None:
        """The newest succeeded, unpurged task of `user` with result key `key` and at least one image."""
        raise NotImplementedError(f"{type(self).__name__} has no result cache")

    def close(self) -> None:
        """Release resources."""
