"""The workers and the dead letters, across every process that shares the queue (docs/scale-out.md).

- `GET /internal/workers`: each worker (name, host, device, free memory, the checkpoints it holds, its state
  and task), the queue (waiting, running, settings) and the dead-letter count. Needs the API credentials or
  the WebUI login when either is configured.
- `GET /sdapi/v1/dead-letters?limit=`: tasks that failed for good (after `--max-delivery` runs, or refused by
  the worker), newest first, with their error; with `--api-auth` a user sees their own.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from modules.api.auth import ApiUser, require_api_or_ui_auth
from modules.api.deps import ServicesDep
from modules.tasks.cluster import is_clustered

router = APIRouter(tags=["workers"])


@router.get("/internal/workers", dependencies=[Depends(require_api_or_ui_auth)])
def list_workers(services: ServicesDep) -> dict:
    queue = services.queue
    running = [{"task_id": r.id, "kind": r.kind, "user": r.user, "model": r.model, "started_at": r.started_at,
                "runs": r.runs} for r in queue.running()]
    return {"mode": "redis" if is_clustered(services.cmd_opts) else "embedded",
            "workers": services.describe_workers(),
            "queue": {"waiting": queue.waiting_count(), "running": running, "max_waiting": queue.max_waiting,
                      "max_delivery": queue.max_delivery, "task_timeout": queue.task_timeout,
                      "dead_letters": len(queue.dead_letters(limit=1000))}}


@router.get("/sdapi/v1/dead-letters")
def dead_letters(services: ServicesDep, user: ApiUser, limit: int = Query(100, ge=1, le=1000)) -> list[dict]:
    letters = services.queue.dead_letters(limit=limit)
    return [d for d in letters if user is None or d.get("user") == user]
