"""Retries of failed runs (`--max-delivery`) and the dead letters: tasks that failed for good, with their error.

A run that failed is delivered again while it has been delivered fewer than `max_delivery` times (default 1:
never again, as the managed service's queue default), unless the request itself was refused (a 4xx error: a
retry would fail the same way). A task that fails for good becomes a dead letter: the Redis queue appends it
to a dead-letter stream; the in-process queue reads its failed records from the task store.
"""
from __future__ import annotations

import time
from typing import Any

from modules.tasks.common import TaskStatus
from modules.tasks.store_base import TaskRecord


def should_retry(status: TaskStatus, error_code: int | None, deliveries: int, max_delivery: int) -> bool:
    return status == TaskStatus.FAILED and (error_code is None or error_code >= 500) and deliveries < max_delivery


def dead_letter(record: TaskRecord, *, error: str | None = None, error_code: int | None = None,
                deliveries: int | None = None, worker: str | None = None, at: float | None = None) -> dict[str, Any]:
    """One dead-letter entry, as GET /sdapi/v1/dead-letters shows it."""
    return {"task_id": record.id, "kind": record.kind, "user": record.user, "model": record.model,
            "error": error if error is not None else record.error,
            "error_code": error_code if error_code is not None else record.error_code,
            "deliveries": deliveries if deliveries is not None else record.runs, "worker": worker,
            "failed_at": at if at is not None else (record.finished_at or time.time())}
