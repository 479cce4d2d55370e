"""A1111's WebUI-internal routes: POST /internal/progress (per-task progress and live preview) and
GET /internal/pending-tasks, both over the task queue, so UI and API jobs share one view.

Auth follows A1111: open when the WebUI has no `--gradio-auth`; otherwise the caller needs the WebUI's login
cookie or the API's Basic credentials.
"""
from __future__ import annotations

import time

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from modules.api.auth import require_ui_auth
from modules.api.deps import ServicesDep
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


def _preview(services, task, wanted: bool, known_id: int) -> tuple[str | None, int | None]:
    """(data URL, id) of the task's latest latents; None when nothing newer than `known_id` exists."""
    p = task.progress
    if not wanted or p.latents is None or not services.options.get("live_previews_enable"):
        return None, known_id
    preview_id = p.job_no * (p.sampling_steps + 1) + p.sampling_step + 1
    if preview_id == known_id:
        return None, known_id
    from modules.engine.preview import latent_preview_base64

    fmt = services.options.get("live_previews_image_format")
    fmt = fmt if fmt in ("png", "jpeg", "webp") else "png"
    data = latent_preview_base64(p.latents, p.preview_family, fmt)
    return f"data:image/{fmt};base64,{data}", preview_id


def _stored(services, task_id: str):
    store = getattr(services.tasks, "store", None)
    return store.get(task_id) if store is not None and task_id else None


def task_progress(services, body: ProgressRequest) -> ProgressResponse:
    task_id = body.id_task or ""
    task = services.tasks.get(task_id) if task_id else None
    if task is None:  # finished (or in another process): the task store knows
        record = _stored(services, task_id)
        if record is None:
            return ProgressResponse(textinfo="Waiting...", id_live_preview=-1)
        if record.status == TaskStatus.WAITING:
            return ProgressResponse(queued=True, progress=0.0, id_live_preview=-1, textinfo="In queue...")
        if record.status == TaskStatus.RUNNING:
            return ProgressResponse(active=True, progress=record.progress, id_live_preview=-1)
        return ProgressResponse(completed=True, progress=1.0, eta=0.0, id_live_preview=-1,
                                textinfo=record.error or record.status.value)
    if task.status == TaskStatus.WAITING:
        pending = [t.id for t in services.tasks.pending()]
        position = pending.index(task.id) + 1 if task.id in pending else 0
        return ProgressResponse(queued=True, id_live_preview=-1, progress=0.0,
                                textinfo=f"In queue: {position} of {len(pending)}" if position else "In queue...")
    if task.status != TaskStatus.RUNNING:
        return ProgressResponse(completed=True, progress=1.0, eta=0.0, id_live_preview=-1,
                                textinfo=task.error or task.status.value)
    p = task.progress
    progress = min(p.fraction(), 1.0)
    elapsed = time.time() - (p.started_at or task.started_at or time.time())
    eta = elapsed / progress - elapsed if progress > 0 else None
    preview, preview_id = _preview(services, task, body.live_preview, body.id_live_preview)
    text = p.textinfo
    if text is None and p.sampling_steps:
        text = f"Batch {p.job_no + 1} of {max(p.job_count, 1)}, step {p.sampling_step} of {p.sampling_steps}"
    return ProgressResponse(active=True, progress=progress, eta=eta, live_preview=preview,
                            id_live_preview=preview_id, textinfo=text)


@router.post("/progress")
def progress(body: ProgressRequest, services: ServicesDep) -> ProgressResponse:
    return task_progress(services, body)


@router.get("/pending-tasks")
def pending_tasks(services: ServicesDep) -> dict:
    tasks = [t.id for t in services.tasks.pending()]
    return {"size": len(tasks), "tasks": tasks}
