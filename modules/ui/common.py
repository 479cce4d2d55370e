"""Pieces shared by txt2img and img2img: sampling controls, seed row, and running a job on the task queue."""
from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass

import gradio as gr

from modules.api.to_request import Limits, build_request
from modules.engine import samplers
from modules.errors import EaselError
from modules.ui.outputs import save_images

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


async def run_generation(services, body, requested_id: str | None, user: str | None = None):
    """Submit `body` (a Txt2ImgBody/Img2ImgBody) to the task queue as a UI job and wait for it.

    Returns (gallery items, generation_info JSON, first infotext, html log).
    """
    try:
        request = build_request(body, Limits.from_cmd_opts(services.cmd_opts), services.options)
        request.is_api = False
        request.user = user
        task = services.generation.submit(request, task_id=task_id(requested_id))
    except EaselError as e:
        raise gr.Error(e.message) from e
    try:
        done = await asyncio.wrap_future(task.future)
    except asyncio.CancelledError:
        if task.future.cancelled():
            raise gr.Error("Interrupted before it started.") from None
        raise
    except EaselError as e:
        raise gr.Error(e.message) from e
    except Exception as e:  # noqa: BLE001 - the message goes to the browser; the server log has the trace
        raise gr.Error(f"Generation failed: {e}") from e
    if done is None:
        raise gr.Error("Interrupted.")
    result = done.result
    fmt = result.samples_format or "png"
    paths = save_images(services, request.mode, result.images, result.infotexts, result.seeds, fmt, request)
    info = {"infotexts": result.infotexts, "seeds": result.seeds,
            "seed": result.seeds[0] if result.seeds else -1, "task": task.id}
    note = "Interrupted. " if result.interrupted else ""
    log = f"<p class='easel-time'>{note}Time taken: {done.total_time:.2f} s</p>"
    items = [(path, None) for path in paths]
    return items, json.dumps(info), (result.infotexts[0] if result.infotexts else ""), log


def interrupt_task(services, requested_id: str | None) -> None:
    """Interrupt the browser's job (cancel it while queued), else the running one."""
    if requested_id:
        try:
            services.tasks.cancel(requested_id)
            return
        except EaselError:
            pass
    current = services.tasks.current
    if current is not None:
        services.tasks.cancel(current.id)  # recorded, so it stays cancelled across a crash


def skip_task(services, requested_id: str | None) -> None:
    current = services.tasks.current
    if current is not None and (not requested_id or current.id == requested_id):
        current.control.skipped = True
