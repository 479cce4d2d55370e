"""Progress and control of the running generation: /progress, /interrupt, /skip.

`/progress?task_id=<id>` reports that one task (per-task progress: two tasks never read each other's);
without it, the running task, as A1111. `/interrupt` cancels the running task only (waiting ones stay queued).
"""
from __future__ import annotations

import time

from fastapi import APIRouter

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep

router = APIRouter(prefix="/sdapi/v1", tags=["progress"])


def _preview_b64(task) -> str | None:
    latents = task.progress.latents
    if latents is None:
        return None
    from modules.engine.preview import latent_preview_base64

    return latent_preview_base64(latents, task.progress.preview_family)


def progress_payload(services, skip_current_image: bool = False, task=None, record=None) -> dict:
    """A1111's /progress shape for `task` (default: the running one); `record` answers for a stored task that
    is not live here (waiting elsewhere or finished)."""
    task = task if task is not None or record is not None else services.tasks.current
    waiting = len(services.tasks.pending())
    state = {
        "skipped": False, "interrupted": False, "stopping_generation": False, "job": "",
        "job_count": 0, "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0,
    }
    if task is None and record is not None:
        done = record.status.finished
        state.update(job=record.id, job_count=record.progress_state.get("job_count", 0),
                     job_no=record.progress_state.get("job_no", 0),
                     sampling_step=record.progress_state.get("sampling_step", 0),
                     sampling_steps=record.progress_state.get("sampling_steps", 0),
                     interrupted=record.status.value == "cancelled")
        return {"progress": 1.0 if done else record.progress, "eta_relative": 0.0, "state": state,
                "current_image": None, "textinfo": record.status.value, "status": record.status.value}
    if task is not None and task.status.value == "waiting":
        position = next((i for i, t in enumerate(services.tasks.pending()) if t.id == task.id), 0)
        state["job"] = task.id
        return {"progress": 0.0, "eta_relative": 0.0, "state": state, "current_image": None,
                "textinfo": f"In queue: position {position + 1}", "status": "waiting"}
    if task is None:
        return {"progress": 0.0, "eta_relative": 0.0, "state": state, "current_image": None,
                "textinfo": f"In queue: {waiting}" if waiting else None}
    p = task.progress
    state.update({
        "skipped": task.control.skipped, "interrupted": task.control.interrupted,
        "stopping_generation": task.control.interrupted, "job": task.id,
        "job_count": p.job_count, "job_no": p.job_no, "sampling_step": p.sampling_step,
        "sampling_steps": p.sampling_steps,
        "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(task.started_at or time.time())),
    })
    progress = min(0.01 + p.fraction(), 1.0) if p.job_count else 0.01
    elapsed = time.time() - (p.started_at or time.time())
    eta = elapsed / progress - elapsed if progress > 0 else 0.0
    return {"progress": progress, "eta_relative": eta, "state": state,
            "current_image": None if skip_current_image else _preview_b64(task), "textinfo": p.textinfo}


@router.get("/progress")
def get_progress(services: ServicesDep, user: ApiUser, skip_current_image: bool = False,
                 task_id: str | None = None) -> dict:
    if not task_id:
        return progress_payload(services, skip_current_image)
    from modules.api.routers.task_submit import visible_record

    live = services.tasks.get(task_id)
    record = visible_record(services, task_id, user)
    if live is not None and live.status.value in ("waiting", "running"):
        return progress_payload(services, skip_current_image, task=live)
    return progress_payload(services, skip_current_image, record=record)


@router.post("/interrupt")
def interrupt(services: ServicesDep, _user: ApiUser) -> dict:
    task = services.tasks.current
    if task is not None:
        services.tasks.cancel(task.id)  # recorded: the task stays cancelled even if the process dies now
    return {}


@router.post("/skip")
def skip(services: ServicesDep, _user: ApiUser) -> None:
    task = services.tasks.current
    if task is not None:
        task.control.skipped = True
    return None
