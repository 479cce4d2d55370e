"""Shared by the routes that create tasks (/sdapi/v1 and the serverless API): async mode, caller-chosen ids,
idempotency keys and waiting for a result."""
from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from fastapi import Request

from modules.errors import NotFoundError
from modules.tasks.common import Task, TaskStatus
from modules.tasks.store_base import TaskRecord

IDEMPOTENCY_WINDOW = 24 * 3600
TRUE = ("1", "true", "yes", "on")


def is_async(request: Request) -> bool:
    """`Request-Type: async` (the managed services' header) or `?async=true`."""
    return request.headers.get("request-type", "").strip().lower() == "async" or \
        request.query_params.get("async", "").strip().lower() in TRUE


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def chosen_task_id(request: Request, body: Any = None) -> str | None:
    """`?task_id=`, the `taskId` header (serverless), the body's `force_task_id`, or `alwayson_scripts.id_task`."""
    for value in (request.query_params.get("task_id"), request.headers.get("taskid"),
                  getattr(body, "force_task_id", None)):
        if value:
            return str(value)
    alwayson = getattr(body, "alwayson_scripts", None) or {}
    value = alwayson.get("id_task") if isinstance(alwayson, dict) else None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) else None


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key", "").strip()
    return key[:200] or None


def find_idempotent(services, user: str | None, key: str | None) -> TaskRecord | None:
    if not key:
        return None
    return services.task_store.find_idempotent(user, key, time.time() - IDEMPOTENCY_WINDOW)


def visible_record(services, task_id: str, user: str | None) -> TaskRecord:
    """The record, when it exists and belongs to `user` (any user when the API has no auth); else 404."""
    record = services.task_store.get(task_id)
    if record is None or (user is not None and record.user != user):
        raise NotFoundError(f"task {task_id!r} not found", field="task_id")
    return record


async def wait_finished(services, task_id: str, task: Task | None = None, timeout: float | None = None) -> TaskRecord:
    """Wait until the task has finished (its live future if we have it, else by polling the store)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    live = task or services.tasks.get(task_id)
    if live is not None:
        wrapped = asyncio.wrap_future(live.future)
        await asyncio.wait({wrapped}, timeout=timeout)
        if wrapped.done() and not wrapped.cancelled():
            wrapped.exception()  # a failure is on the record, which is what we return
    while True:
        record = services.task_store.get(task_id)
        if record is None:
            raise NotFoundError(f"task {task_id!r} not found", field="task_id")
        if record.status.finished or (deadline is not None and time.monotonic() > deadline):
            return record
        await asyncio.sleep(0.1)


def stored_images_b64(services, record: TaskRecord) -> list[str]:
    return [base64.b64encode(services.storage.read(key)).decode("ascii") for key in record.images]


def async_answer(services, record: TaskRecord, request: Request) -> dict:
    """What an async submission returns at once."""
    root = base_url(request)
    waiting = len(services.tasks.pending())
    return {"task_id": record.id, "status": record.status.value, "queue_length": waiting,
            "links": {"task": f"{root}/sdapi/v1/tasks/{record.id}", "events": f"{root}/sdapi/v1/tasks/{record.id}/events",
                      "cancel": f"{root}/sdapi/v1/tasks/{record.id}/cancel"}}


def record_or_waiting(services, task: Task) -> TaskRecord:
    record = services.task_store.get(task.id)
    return record if record is not None else TaskRecord(id=task.id, kind=task.kind, status=TaskStatus.WAITING)
