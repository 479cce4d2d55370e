"""GET /tasks/{taskId}/progress, GET /tasks/{taskId}/result, POST /tasks/{taskId}/cancellation."""
from __future__ import annotations

from fastapi import Request

from modules.api.auth import TaskViewer
from modules.api.deps import ServicesDep
from modules.api.routers import task_submit as ts
from modules.api.routers.progress import progress_payload
from modules.api.routers.serverless import new_router, result_paths
from modules.tasks.payloads import public_params, signed_urls

router = new_router("serverless")


@router.get("/tasks/{taskId}/progress")
def task_progress(taskId: str, services: ServicesDep, user: TaskViewer) -> dict:  # noqa: N803 - the spec's name
    """TaskProgressResponse; progress is 1 once finished and at most 0.99 before (as the reference service)."""
    record = ts.visible_record(services, taskId, user)
    data = progress_payload(services, record, skip_current_image=record.status.finished)
    status = record.status.value
    finished = record.status.finished
    progress = 1.0 if finished else min(float(data["progress"]), 0.99)
    return {"taskId": taskId, "progress": progress, "etaRelative": 0.0 if finished else data["eta_relative"],
            "state": {**data["state"], "status": status}, "currentImage": data.get("current_image") or "",
            "message": record.error or status}


@router.get("/tasks/{taskId}/result")
def task_result(taskId: str, services: ServicesDep, user: TaskViewer, request: Request) -> dict:  # noqa: N803
    """TaskResultResponse: stored image paths, fresh signed ossUrl links, parameters and info."""
    record = ts.visible_record(services, taskId, user)
    info = record.info if isinstance(record.info, dict) else ({"info": record.info} if record.info else {})
    return {"taskId": taskId, "status": record.status.value, "images": result_paths(services, record.images),
            "ossUrl": signed_urls(record, services.links, ts.base_url(request)),
            "parameters": public_params(record), "info": info,
            "message": record.error or ("success" if record.status.value == "succeeded" else record.status.value)}


@router.post("/tasks/{taskId}/cancellation")
def cancel(taskId: str, services: ServicesDep, user: TaskViewer) -> dict:  # noqa: N803
    ts.visible_record(services, taskId, user)
    record = services.queue.cancel(taskId)
    return {"message": "success", "taskId": taskId, "status": record.status.value}
