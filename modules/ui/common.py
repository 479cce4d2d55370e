"""Running a WebUI job: the tab builds an A1111 request body and submits it through the one request pipeline
(as the API does: styles, scripts and limits included); the results come back from the task storage."""
from __future__ import annotations

import asyncio
import html
import json
import re

import gradio as gr

from modules.errors import EaselError, NotFoundError
from modules.generation.bodies import GenerationBody
from modules.generation.pipeline import Submission
from modules.services import Services
from modules.tasks.common import TaskStatus
from modules.tasks.store_base import TaskRecord
from modules.ui.outputs import gallery_files

_TASK_ID = re.compile(r"^task\([A-Za-z0-9_-]{1,64}\)$")


def task_id(requested: str | None) -> str | None:
    """The browser's id (so it can poll /internal/progress) when well-formed; else the queue makes one."""
    if requested and _TASK_ID.match(requested):
        return requested
    return None


async def submit_and_wait(services: Services, body: GenerationBody, requested_id: str | None,
                          user: str | None = None) -> TaskRecord:
    """Queue `body` (the WebUI saves its images, as A1111's does) and wait for the finished record."""
    body.save_images = True
    try:
        record = await asyncio.to_thread(services.pipeline.submit, body,
                                         Submission(user=user, task_id=task_id(requested_id), is_api=False))
    except EaselError as e:
        raise gr.Error(e.message) from e
    record = await services.queue.wait(record.id)
    if record.status == TaskStatus.FAILED:
        raise gr.Error(record.error or "Generation failed.")
    if record.status == TaskStatus.CANCELLED and not record.images:
        raise gr.Error("Interrupted.")
    return record


def shown_info(record: TaskRecord) -> dict:
    """What the page keeps of a result (hidden generation_info): infotexts, seeds, where the images start."""
    info = record.info or {}
    seeds = info.get("all_seeds", [])
    return {"infotexts": info.get("infotexts", []), "all_seeds": seeds, "all_subseeds": info.get("all_subseeds", []),
            "seed": seeds[0] if seeds else -1, "index_of_first_image": info.get("index_of_first_image", 0),
            "task": record.id}


async def run_generation(services: Services, body: GenerationBody, requested_id: str | None, user: str | None = None):
    """Submit `body` through the request pipeline and wait for it.

    Returns (gallery items, generation_info JSON, infotext of the first image, html log, selected index).
    """
    record = await submit_and_wait(services, body, requested_id, user)
    shown = shown_info(record)
    first = shown["index_of_first_image"]
    infotexts = shown["infotexts"]
    note = "Interrupted. " if record.status == TaskStatus.CANCELLED else ""
    elapsed = (record.finished_at or 0) - (record.started_at or record.finished_at or 0)
    comments = (record.info or {}).get("comments")
    log = f"<p class='easel-time'>{note}Time taken: {elapsed:.2f} s</p>"
    if comments:
        log += "".join(f"<p class='easel-comment'>{html.escape(line)}</p>" for line in str(comments).splitlines()
                       if line)
    items = [(path, None) for path in gallery_files(services, record.images)]
    text = infotexts[first] if first < len(infotexts) else (infotexts[0] if infotexts else "")
    return gr.Gallery(value=items, selected_index=None), json.dumps(shown), text, log, first


def interrupt_task(services: Services, requested_id: str | None) -> None:
    """Interrupt the browser's job (cancel it while queued), else the running one."""
    if requested_id:
        try:
            services.queue.cancel(requested_id)
            return
        except NotFoundError:
            pass
    services.queue.interrupt()


def skip_task(services: Services, requested_id: str | None) -> None:
    services.queue.skip(requested_id or None)
