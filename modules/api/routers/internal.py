"""A1111's WebUI-internal routes: POST /internal/progress (per-task progress and live preview) and
GET /internal/pending-tasks, both over the task queue, so UI and API jobs share one view.

Auth follows A1111: open when the WebUI has no `--gradio-auth`; otherwise the caller needs the WebUI's login
cookie or the API's Basic credentials.
"""
from __future__ import annotations

import time

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from modules.api.auth import UiTaskViewer, require_ui_auth
from modules.api.deps import ServicesDep
from modules.services import Services
from modules.tasks.common import TaskStatus

router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[Depends(require_ui_auth)])


class ProgressRequest(BaseModel):
    id_task: str | None = Field(default=None, description="id of the task, e.g. task(txt2img-ABC1234)")
    id_live_preview: int = Field(default=-1, description="id of the last preview the client has")
    live_preview: bool = Field(default=True, description="include a live preview image")


class ProgressResponse(BaseModel):
    active: bool = False
    queued: bool = False
    completed: bool = False
    progress: float | None = None
    eta: float | None = None
    live_preview: str | None = None
    id_live_preview: int | None = None
    textinfo: str | None = None


def _preview(services: Services, task_id: str, wanted: bool, known_id: int) -> tuple[str | None, int | None]:
    """(data URL, id) of the task's latest live preview; None when nothing newer than `known_id` exists."""
    if not wanted or not services.options.get("live_previews_enable"):
        return None, known_id
    fmt = services.options.get("live_previews_image_format")
    preview = services.queue.preview(task_id, fmt if fmt in ("png", "jpeg", "webp") else "png")
    if preview is None or preview.id == known_id:
        return None, known_id
    return f"data:image/{preview.fmt};base64,{preview.image_b64}", preview.id


def task_progress(services: Services, body: ProgressRequest, owner: str | None = None) -> ProgressResponse:
    task_id = body.id_task or ""
    record = services.task_store.get(task_id) if task_id else None
    if record is None or (owner is not None and record.user != owner):  # another user's task: as unknown
        return ProgressResponse(textinfo="Waiting...", id_live_preview=-1)
    if record.status == TaskStatus.WAITING:
        position, waiting = services.queue.position(task_id), services.queue.waiting_count()
        return ProgressResponse(queued=True, id_live_preview=-1, progress=0.0,
                                textinfo=f"In queue: {position} of {waiting}" if position else "In queue...")
    if record.status.finished:
        return ProgressResponse(completed=True, progress=1.0, eta=0.0, id_live_preview=-1,
                                textinfo=record.error or record.status.value)
    live = services.queue.progress(task_id)
    if live is None:  # running in a process whose live state this one cannot read
        return ProgressResponse(active=True, progress=record.progress, id_live_preview=-1)
    progress = min(live.fraction(), 1.0)
    elapsed = time.time() - (live.started_at or record.started_at or time.time())
    eta = elapsed / progress - elapsed if progress > 0 else None
    preview, preview_id = _preview(services, task_id, body.live_preview, body.id_live_preview)
    text = live.textinfo
    if text is None and live.sampling_steps:
        text = f"Batch {live.job_no + 1} of {max(live.job_count, 1)}, step {live.sampling_step} of {live.sampling_steps}"
    return ProgressResponse(active=True, progress=progress, eta=eta, live_preview=preview,
                            id_live_preview=preview_id, textinfo=text)


@router.post("/progress")
def progress(body: ProgressRequest, services: ServicesDep, owner: UiTaskViewer) -> ProgressResponse:
    return task_progress(services, body, owner)


@router.get("/pending-tasks")
def pending_tasks(services: ServicesDep, owner: UiTaskViewer) -> dict:
    tasks = [record.id for record in services.queue.pending() if owner is None or record.user == owner]
    return {"size": len(tasks), "tasks": tasks}
