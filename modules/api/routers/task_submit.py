"""Shared by the routes that create tasks (/sdapi/v1 and the serverless API): async mode, caller-chosen ids,
idempotency keys, waiting for a result and reading the stored images."""
from __future__ import annotations

import base64
import time
from typing import Any

from fastapi import Request

from modules.errors import NotFoundError
from modules.generation.pipeline import Submission
from modules.services import Services
from modules.tasks.store_base import TaskRecord

IDEMPOTENCY_WINDOW = 24 * 3600
TRUE = ("1", "true", "yes", "on")


def is_async(request: Request) -> bool:
    """`Request-Type: async` (the managed services' header) or `?async=true`."""
    return request.headers.get("request-type", "").strip().lower() == "async" or \
        request.query_params.get("async", "").strip().lower() in TRUE


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def chosen_task_id(request: Request | None, body: Any = None) -> str | None:
    """`?task_id=`, the `taskId` header (serverless), the body's `force_task_id`, or `alwayson_scripts.id_task`."""
    given = (request.query_params.get("task_id"), request.headers.get("taskid")) if request is not None else ()
    for value in (*given, getattr(body, "force_task_id", None)):
        if value:
            return str(value)
    alwayson = getattr(body, "alwayson_scripts", None) or {}
    value = alwayson.get("id_task") if isinstance(alwayson, dict) else None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) else None


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key", "").strip()
    return key[:200] or None


def submission(request: Request, user: str | None, body: Any = None, *, with_id: bool = True) -> Submission:
    """Who submits and how to deliver, from the HTTP request (ids, idempotency key, webhook, base URL)."""
    return Submission(user=user, task_id=chosen_task_id(request, body) if with_id else None,
                      idempotency_key=idempotency_key(request), webhook_url=getattr(body, "webhook_url", None),
                      base_url=base_url(request), priority=getattr(body, "priority", None))


def find_idempotent(services: Services, user: str | None, key: str | None) -> TaskRecord | None:
    if not key:
        return None
    return services.task_store.find_idempotent(user, key, time.time() - IDEMPOTENCY_WINDOW)


def visible_record(services: Services, task_id: str, user: str | None) -> TaskRecord:
    """The record, when it exists and belongs to `user` (None: any owner, for an admin or when no login is
    configured; see auth.TaskViewer); else 404, so another user's ids do not leak."""
    record = services.task_store.get(task_id)
    if record is None or (user is not None and record.user != user):
        raise NotFoundError(f"task {task_id!r} not found", field="task_id")
    return record


def stored_images_b64(services: Services, record: TaskRecord) -> list[str]:
    return [base64.b64encode(services.storage.read(key)).decode("ascii") for key in record.images]


def async_answer(services: Services, record: TaskRecord, request: Request) -> dict:
    """What an async submission returns at once."""
    root = base_url(request)
    links = {name: f"{root}/sdapi/v1/tasks/{record.id}{suffix}"
             for name, suffix in (("task", ""), ("events", "/events"), ("cancel", "/cancel"))}
    return {"task_id": record.id, "status": record.status.value, "queue_length": services.queue.waiting_count(),
            "links": links}
