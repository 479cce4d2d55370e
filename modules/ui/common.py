"""Pieces shared by txt2img and img2img: sampling controls, seed row, and running a job on the task queue."""
from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass

import gradio as gr

from modules.engine import samplers
from modules.errors import EaselError, NotFoundError
from modules.generation.bodies import GenerationBody
from modules.generation.pipeline import Submission
from modules.services import Services
from modules.tasks.common import TaskStatus
from modules.ui.outputs import gallery_files

_TASK_ID = re.compile(r"^task\([A-Za-z0-9_-]{1,64}\)$")


@dataclass
class SamplingControls:
    sampler: gr.Dropdown
    scheduler: gr.Dropdown
    steps: gr.Slider
    width: gr.Slider
    height: gr.Slider
    batch_count: gr.Slider
    batch_size: gr.Slider
    cfg_scale: gr.Slider
    seed: gr.Number
    random_seed: gr.Button
    reuse_seed: gr.Button

    def as_list(self) -> list:
        return [self.sampler, self.scheduler, self.steps, self.width, self.height, self.batch_count,
                self.batch_size, self.cfg_scale, self.seed]


def build_sampling(tab: str) -> SamplingControls:
    with gr.Row():
        sampler = gr.Dropdown(samplers.sampler_names(), value="Euler a", label="Sampling method",
                              elem_id=f"{tab}_sampling")
        scheduler = gr.Dropdown([s.label for s in samplers.SCHEDULES], value="Automatic", label="Schedule type",
                                elem_id=f"{tab}_scheduler")
    steps = gr.Slider(1, 150, value=20, step=1, label="Sampling steps", elem_id=f"{tab}_steps")
    with gr.Row():
        with gr.Column(scale=3):
            width = gr.Slider(64, 2048, value=512, step=8, label="Width", elem_id=f"{tab}_width")
            height = gr.Slider(64, 2048, value=512, step=8, label="Height", elem_id=f"{tab}_height")
        with gr.Column(scale=1):
            batch_count = gr.Slider(1, 16, value=1, step=1, label="Batch count", elem_id=f"{tab}_batch_count")
            batch_size = gr.Slider(1, 8, value=1, step=1, label="Batch size", elem_id=f"{tab}_batch_size")
    cfg = gr.Slider(1, 30, value=7, step=0.5, label="CFG Scale", elem_id=f"{tab}_cfg_scale")
    with gr.Row(elem_id=f"{tab}_seed_row", equal_height=True):
        seed = gr.Number(value=-1, label="Seed", precision=0, elem_id=f"{tab}_seed", scale=4)
        random_seed = gr.Button("\U0001f3b2", elem_id=f"{tab}_random_seed", elem_classes=["tool"], scale=0,
                                min_width=40)
        reuse_seed = gr.Button("\u267b\ufe0f", elem_id=f"{tab}_reuse_seed", elem_classes=["tool"], scale=0,
                               min_width=40)
    return SamplingControls(sampler, scheduler, steps, width, height, batch_count, batch_size, cfg, seed,
                            random_seed, reuse_seed)


def wire_seed_buttons(controls: SamplingControls, generation_info: gr.Textbox) -> None:
    """🎲 sets -1 (random); ♻️ puts the seed of the last generation back (A1111 habit)."""
    controls.random_seed.click(None, None, [controls.seed], js="() => -1")

    def reuse(info_json: str, current):
        try:
            return int(json.loads(info_json or "{}").get("seed", current))
        except (TypeError, ValueError):
            return current

    controls.reuse_seed.click(reuse, [generation_info, controls.seed], [controls.seed], api_visibility="private")


def sampling_fields(sampler, scheduler, steps, width, height, n_iter, batch_size, cfg_scale, seed) -> dict:
    """The request fields the sampling controls give, in A1111 field names."""
    return {"sampler_name": sampler, "scheduler": scheduler, "steps": int(steps), "width": int(width),
            "height": int(height), "n_iter": int(n_iter), "batch_size": int(batch_size),
            "cfg_scale": float(cfg_scale), "seed": int(seed if seed is not None else -1)}


def task_id(requested: str | None) -> str | None:
    """The browser's id (so it can poll /internal/progress) when well-formed; else the queue makes one."""
    if requested and _TASK_ID.match(requested):
        return requested
    return None


async def run_generation(services: Services, body: GenerationBody, requested_id: str | None, user: str | None = None):
    """Submit `body` through the request pipeline (as the API does: scripts included) and wait for it.

    Returns (gallery items, generation_info JSON, first infotext, html log).
    """
    body.save_images = True  # A1111's WebUI saves to the outputs folders (when samples_save is on)
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
    info = record.info or {}
    infotexts, seeds = info.get("infotexts", []), info.get("all_seeds", [])
    shown = {"infotexts": infotexts, "seeds": seeds, "seed": seeds[0] if seeds else -1, "task": record.id}
    note = "Interrupted. " if record.status == TaskStatus.CANCELLED else ""
    elapsed = (record.finished_at or 0) - (record.started_at or record.finished_at or 0)
    log = f"<p class='easel-time'>{note}Time taken: {elapsed:.2f} s</p>"
    items = [(path, None) for path in gallery_files(services, record.images)]
    return items, json.dumps(shown), (infotexts[0] if infotexts else ""), log


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
