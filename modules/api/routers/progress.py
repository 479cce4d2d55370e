"""Progress and control of the running generation: /progress, /interrupt, /skip."""
from __future__ import annotations

import base64
import io
import time

from fastapi import APIRouter

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep

router = APIRouter(prefix="/sdapi/v1", tags=["progress"])


def _preview_b64(task) -> str | None:
    latents = task.progress.latents
    if latents is None:
        return None
    from modules.engine.preview import latent_preview

    buffer = io.BytesIO()
    latent_preview(latents, task.progress.preview_family).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def progress_payload(services, skip_current_image: bool = False) -> dict:
    task = services.tasks.current
    waiting = len(services.tasks.pending())
    state = {
        "skipped": False, "interrupted": False, "stopping_generation": False, "job": "",
        "job_count": 0, "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0,
    }
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
def get_progress(services: ServicesDep, _user: ApiUser, skip_current_image: bool = False) -> dict:
    return progress_payload(services, skip_current_image)


@router.post("/interrupt")
def interrupt(services: ServicesDep, _user: ApiUser) -> dict:
    task = services.tasks.current
    if task is not None:
        task.control.interrupted = True
    return {}


@router.post("/skip")
def skip(services: ServicesDep, _user: ApiUser) -> None:
    task = services.tasks.current
    if task is not None:
        task.control.skipped = True
    return None
