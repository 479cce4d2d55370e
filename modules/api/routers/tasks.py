"""Tasks on /sdapi/v1: read, list, cancel, an SSE stream per task, the result subscription (watch from an
index with a window of unacknowledged items, commit, redelivery on reconnect) and signed result links."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.routers.progress import progress_payload
from modules.api.routers.task_submit import base_url, visible_record
from modules.api.serve import is_stopping
from modules.errors import NotFoundError
from modules.services import Services
from modules.storage.base import content_type
from modules.storage.retention import missing_object_error
from modules.tasks.common import TaskStatus
from modules.tasks.payloads import task_payload
from modules.tasks.store_base import TaskRecord

router = APIRouter(tags=["tasks"])
POLL = 0.1
PING_EVERY = 10.0


def _sse(event: str, data: dict, event_id: int | str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _stream(generator: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(generator, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def payload(services: Services, record: TaskRecord, request: Request) -> dict:
    data = task_payload(record, services.links, base_url(request))
    live = services.queue.progress(record.id) if record.status == TaskStatus.RUNNING else None
    if live is not None:
        data["progress_state"] = live.as_dict()
        data["progress"] = data["progress_state"]["fraction"]
    return data


@router.get("/sdapi/v1/tasks")
def list_tasks(services: ServicesDep, user: ApiUser, request: Request, status: list[TaskStatus] = Query(None),
               limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> list[dict]:
    records = services.task_store.list(user=user, status=status, limit=limit, offset=offset)
    return [payload(services, r, request) for r in records]


@router.get("/sdapi/v1/tasks/{task_id}")
def get_task(task_id: str, services: ServicesDep, user: ApiUser, request: Request) -> dict:
    return payload(services, visible_record(services, task_id, user), request)


@router.post("/sdapi/v1/tasks/{task_id}/cancel")
def cancel_task(task_id: str, services: ServicesDep, user: ApiUser, request: Request) -> dict:
    visible_record(services, task_id, user)
    return payload(services, services.queue.cancel(task_id), request)


@router.get("/sdapi/v1/tasks/{task_id}/events")
async def task_events(task_id: str, services: ServicesDep, user: ApiUser, request: Request) -> StreamingResponse:
    """SSE: `progress` events while it waits and runs (when they change), then one `result` event, then the end."""
    visible_record(services, task_id, user)

    async def events() -> AsyncIterator[str]:
        last, pinged = None, time.monotonic()
        while not await request.is_disconnected() and not is_stopping(request):
            record = services.task_store.get(task_id)
            if record is None:  # deleted meanwhile (retention)
                return
            if record.status.finished:
                yield _sse("result", task_payload(record, services.links, base_url(request)))
                return
            progress = progress_payload(services, record, skip_current_image=True)
            progress["status"] = record.status.value
            if progress != last:
                yield _sse("progress", {"task_id": task_id, **progress})
                last, pinged = progress, time.monotonic()
            elif time.monotonic() - pinged > PING_EVERY:
                yield ": ping\n\n"
                pinged = time.monotonic()
            await services.queue.wait(task_id, timeout=POLL)

    return _stream(events())


# -- the result subscription ------------------------------------------------------------------------------------
def _consumer(consumer: str | None, user: str | None) -> str:
    return (consumer or user or "default")[:128]


@router.get("/sdapi/v1/results/watch")
async def watch_results(services: ServicesDep, user: ApiUser, request: Request, index: int = Query(1, ge=0),
                        window: int = Query(8, ge=1, le=256), consumer: str | None = None,
                        auto_commit: bool = False, timeout: float = Query(0, ge=0)) -> StreamingResponse:
    """SSE of finished tasks from stream `index` on. At most `window` delivered-but-uncommitted items are out at
    once; commit with POST /sdapi/v1/results/commit. A new connection redelivers every uncommitted item."""
    name = _consumer(consumer, user)
    store = services.task_store

    async def events() -> AsyncIterator[str]:
        sent_upto, pinged = index - 1, time.monotonic()
        deadline = time.monotonic() + timeout if timeout else None
        while not await request.is_disconnected() and not is_stopping(request):
            if deadline is not None and time.monotonic() > deadline:
                return
            outstanding = 0
            items = store.sink_read(after=index - 1, user=user, consumer=name, limit=window * 2 + 64)
            fresh = []
            for item in items:
                if item.index <= sent_upto:
                    outstanding += 1
                else:
                    fresh.append(item)
            room = window - outstanding
            for item in fresh[:max(0, room)]:
                record = store.get(item.task_id)
                if record is None:
                    continue
                data = {"index": item.index, "task_id": item.task_id,
                        "task": task_payload(record, services.links, base_url(request))}
                if auto_commit:
                    store.sink_commit(name, [item.index])
                yield _sse("result", data, item.index)
                sent_upto, pinged = item.index, time.monotonic()
            if time.monotonic() - pinged > PING_EVERY:
                yield ": ping\n\n"
                pinged = time.monotonic()
            await asyncio.sleep(POLL)

    return _stream(events())


@router.get("/sdapi/v1/results")
def read_results(services: ServicesDep, user: ApiUser, request: Request, index: int = Query(1, ge=0),
                 length: int = Query(10, ge=1, le=500), consumer: str | None = None) -> dict:
    """The uncommitted items from `index` (no streaming, nothing acknowledged)."""
    name = _consumer(consumer, user)
    items = services.task_store.sink_read(after=index - 1, user=user, consumer=name, limit=length)
    found = [(i, services.task_store.get(i.task_id)) for i in items]
    return {"consumer": name, "last_index": services.task_store.sink_last_index(),
            "items": [{"index": i.index, "task_id": i.task_id, "task": task_payload(r, services.links, base_url(request))}
                      for i, r in found if r is not None]}


class CommitBody(BaseModel):
    indexes: list[int] = Field(..., min_length=1, max_length=10000)
    consumer: str | None = None


@router.post("/sdapi/v1/results/commit")
def commit_results(body: CommitBody, services: ServicesDep, user: ApiUser) -> dict:
    name = _consumer(body.consumer, user)
    allowed = body.indexes
    if user is not None:  # only one's own items
        own = {i.index for i in services.task_store.sink_read(after=min(allowed) - 1, user=user, consumer=name,
                                                               limit=max(allowed) - min(allowed) + 1)}
        allowed = [i for i in allowed if i in own]
    return {"consumer": name, "committed": services.task_store.sink_commit(name, allowed)}


# -- signed links -----------------------------------------------------------------------------------------------
@router.get("/storage/{key:path}")
def stored_file(key: str, services: ServicesDep, expires: str | None = None,
                signature: str | None = None) -> Response:
    """A stored result, for whoever holds a valid, unexpired signed link (no other auth)."""
    services.links.verify(key, expires, signature)
    path = services.storage.local_path(key)
    if path is not None:
        return FileResponse(path, headers={"Cache-Control": "private, max-age=60"})
    try:
        chunks = services.storage.iter_chunks(key)
    except NotFoundError as e:
        raise missing_object_error(services.task_store, key, e) from e
    return StreamingResponse(chunks, media_type=content_type(key), headers={"Cache-Control": "private, max-age=60"})
