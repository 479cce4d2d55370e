"""The public JSON of a task record (polling, SSE, webhooks, the result subscription)."""
from __future__ import annotations

from typing import Any

from modules.tasks.signing import LinkSigner
from modules.tasks.store_base import TaskRecord

_IMAGE_FIELDS = ("init_images", "mask", "image", "imageList")


def public_params(record: TaskRecord) -> dict[str, Any]:
    """The request parameters without input images (they can be megabytes of base64)."""
    params = dict(record.params or {})
    for name in _IMAGE_FIELDS:
        if params.get(name):
            params[name] = None
    params.pop("webhook_url", None)
    return params


def signed_urls(record: TaskRecord, links: LinkSigner, base_url: str | None = None) -> list[str]:
    """Fresh signed links to the task's stored images (relative when no base URL is known)."""
    base = base_url if base_url is not None else (record.base_url or "")
    return [links.sign(key, base) for key in record.images]


def task_payload(record: TaskRecord, links: LinkSigner, base_url: str | None = None) -> dict[str, Any]:
    """Everything a client may read about a task; links are signed afresh on each call."""
    return {
        "task_id": record.id,
        "kind": record.kind,
        "user": record.user,
        "model": record.model,
        "status": record.status.value,
        "progress": 1.0 if record.status.value == "succeeded" else round(record.progress, 4),
        "progress_state": record.progress_state,
        "parameters": public_params(record),
        "images": list(record.images),
        "urls": signed_urls(record, links, base_url),
        "info": record.info,
        "error": record.error,
        "runs": record.runs,
        "webhook": {"url": record.webhook_url, **record.webhook} if record.webhook_url else None,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "outputs_purged_at": record.purged_at,  # set when retention deleted its images (links answer 410)
    }
