"""Progress and control of the running generation: /progress, /interrupt, /skip.

`/progress?task_id=<id>` reports that one task (per-task progress: two tasks never read each other's);
without it, the running task, as A1111. `/interrupt` stops the running task only (waiting ones stay queued).
Everything is read through the task queue, so it works for a task run by any worker.
"""
from __future__ import annotations

import time

from fastapi import APIRouter

from modules.api.auth import TaskViewer
from modules.api.deps import ServicesDep
from modules.services import Services
from modules.tasks.common import TaskStatus
from modules.tasks.store_base import TaskRecord

router = APIRouter(prefix="/sdapi/v1", tags=["progress"])


def _idle_state(job: str = "") -> dict:
    return {"skipped": False, "interrupted": False, "stopping_generation": False, "job": job, "job_count": 0,
            "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0}


def progress_payload(services: Services, record: TaskRecord | None, skip_current_image: bool = False) -> dict:
    """A1111's /progress shape for a task record (None: nothing running)."""
    queue = services.queue
    state = _idle_state()
    if record is None:
        waiting = queue.waiting_count()
        return {"progress": 0.0, "eta_relative": 0.0, "state": state, "current_image": None,
                "textinfo": f"In queue: {waiting}" if waiting else None}
    if record.status == TaskStatus.WAITING:
        state["job"] = record.id
        return {"progress": 0.0, "eta_relative": 0.0, "state": state, "current_image": None,
                "textinfo": f"In queue: position {queue.position(record.id) or 1}", "status": "waiting"}
    live = queue.progress(record.id) if record.status == TaskStatus.RUNNING else None
    if live is None:  # finished, or running where this process cannot see its live state
        stored = record.progress_state
        state.update(job=record.id, job_count=stored.get("job_count", 0), job_no=stored.get("job_no", 0),
                     sampling_step=stored.get("sampling_step", 0), sampling_steps=stored.get("sampling_steps", 0),
                     interrupted=record.status == TaskStatus.CANCELLED)
        return {"progress": 1.0 if record.status.finished else record.progress, "eta_relative": 0.0, "state": state,
                "current_image": None, "textinfo": record.status.value, "status": record.status.value}
    state.update({
        "skipped": live.skipped, "interrupted": live.interrupted, "stopping_generation": live.interrupted,
        "job": record.id, "job_count": live.job_count, "job_no": live.job_no, "sampling_step": live.sampling_step,
        "sampling_steps": live.sampling_steps,
        "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(record.started_at or time.time())),
    })
    progress = min(0.01 + live.fraction(), 1.0) if live.job_count else 0.01
    elapsed = time.time() - (live.started_at or time.time())
    eta = elapsed / progress - elapsed if progress > 0 else 0.0
    preview = None if skip_current_image else queue.preview(record.id)
    return {"progress": progress, "eta_relative": eta, "state": state,
            "current_image": preview.image_b64 if preview is not None else None, "textinfo": live.textinfo,
            "status": "running"}


def own_running(services: Services, owner: str | None) -> list[TaskRecord]:
    """The running tasks the caller may see and control (their own; every one for an admin or without logins)."""
    return [r for r in services.queue.running() if owner is None or r.user == owner]


@router.get("/progress")
def get_progress(services: ServicesDep, user: TaskViewer, skip_current_image: bool = False,
                 task_id: str | None = None) -> dict:
    if not task_id:
        running = own_running(services, user)
        return progress_payload(services, running[0] if running else None, skip_current_image)
    from modules.api.routers.task_submit import visible_record

    return progress_payload(services, visible_record(services, task_id, user), skip_current_image)


@router.post("/interrupt")
def interrupt(services: ServicesDep, user: TaskViewer) -> dict:
    running = own_running(services, user)
    if running:  # A1111: the job ends as cancelled, its images so far kept
        services.queue.interrupt(running[0].id)
    return {}


@router.post("/skip")
def skip(services: ServicesDep, user: TaskViewer) -> None:
    running = own_running(services, user)
    if running:
        services.queue.skip(running[0].id)
