"""Generation as tasks: a request becomes a queued, recorded task that the worker runs on the current model.

Every generation (API sync or async, UI, serverless) goes through `submit`; its images are stored under
`tasks/<task id>/` in the result storage, and the task record keeps their keys, the info and the error.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules import image_saving
from modules import images as image_utils
from modules.engine.generator import Generator, fill_seeds_and_prompts
from modules.errors import EaselError
from modules.processing import GenerationRequest, GenerationResult
from modules.request_limits import ImageBudget
from modules.tasks.common import Task, check_task_id
from modules.tasks.store_base import TaskRecord

# kind -> rebuild a runnable task from its stored params after a restart (registered by the API layer)
Restorer = Callable[[TaskRecord], Task]

logger = logging.getLogger(__name__)


@dataclass
class EncodedResult:
    """A finished generation with its images already encoded in the samples format."""

    result: GenerationResult
    encoded: list[bytes]
    total_time: float
    keys: list[str] = field(default_factory=list)  # where the encoded images are stored


_SUMMARY_FIELDS = ("prompt", "negative_prompt", "seed", "sampler_name", "scheduler", "steps", "cfg_scale", "width",
                   "height", "batch_size", "n_iter", "denoising_strength", "styles")


def request_summary(request: GenerationRequest) -> dict[str, Any]:
    """The JSON-able parameters of a request (for records of tasks that cannot be replayed)."""
    return {name: getattr(request, name) for name in _SUMMARY_FIELDS}


class GenerationService:
    def __init__(self, options, models, generator: Generator, tasks, styles, storage=None, links=None,
                 data_dir: Path | None = None):
        self.styles = styles
        self._task: Task | None = None  # the task the worker thread is running
        self.options = options
        self.models = models
        self.generator = generator
        self.tasks = tasks
        self.data_dir = data_dir  # where the outputs folders are (API `save_images`); None: never saved
        self.storage = storage  # modules.storage.base.Storage; None: results are not stored (benchmarks)
        self.links = links  # modules.tasks.signing.LinkSigner
        self.restorers: dict[str, Restorer] = {}
        self.limits = None  # modules.request_limits.RequestLimits: the run-time image cap (set by services)
        self._budget: ImageBudget | None = None

    def submit(self, request: GenerationRequest, *, task_id: str | None = None, params: dict | None = None,
               idempotency_key: str | None = None, webhook_url: str | None = None,
               base_url: str | None = None) -> Task:
        """Queue a generation; returns the live task at once (await `task.future` for the EncodedResult).

        `params` (the JSON body it was built from) makes the task replayable after a restart; without it a task
        still waiting at a crash is failed on restart. QueueFullError past the queue bound; ConflictError when
        `task_id` is taken.
        """
        return self.tasks.submit(self.make_task(request, task_id=task_id, params=params,
                                                idempotency_key=idempotency_key, webhook_url=webhook_url,
                                                base_url=base_url))

    def make_task(self, request: GenerationRequest, *, task_id: str | None = None, params: dict | None = None,
                  idempotency_key: str | None = None, webhook_url: str | None = None,
                  base_url: str | None = None) -> Task:
        """The live task for `request`, not yet queued (restorers use it to rebuild stored tasks)."""
        task = Task(kind=request.mode, run=lambda t: self._run(t, request), id=check_task_id(task_id) if task_id
                    else "", user=request.user, model=self._model_name(request), params=params,
                    summary=request_summary(request), idempotency_key=idempotency_key, webhook_url=webhook_url,
                    base_url=base_url)
        request.task_id = task.id
        return task

    def submit_task(self, task: Task) -> Task:
        """Queue a task whose `run` was built elsewhere (extras, restored tasks)."""
        if task.params is not None and task.kind not in self.restorers:
            task.params = None
        return self.tasks.submit(task)

    def restore(self, record: TaskRecord) -> Task:
        """Rebuild a live task from a stored record (queue recovery after a restart)."""
        if record.params is None:
            raise EaselError("it was submitted from a session that ended with the restart (WebUI), "
                             "so its input was not kept")
        restorer = self.restorers.get(record.kind)
        if restorer is None:
            raise EaselError(f"no way to rebuild a {record.kind!r} task")
        return restorer(record)

    def _model_name(self, request: GenerationRequest) -> str | None:
        return request.sd_model_checkpoint or request.override_settings.get("sd_model_checkpoint") \
            or self.options.get("sd_model_checkpoint") or None

    def store_outputs(self, task: Task, encoded: list[bytes], fmt: str) -> list[str]:
        """Write the task's images to the result storage; sets `task.outcome` images and links."""
        if self.storage is None:
            return []
        ext = "jpg" if fmt.lower() == "jpeg" else fmt.lower()
        keys = [self.storage.write(f"tasks/{task.id}/{i:05d}.{ext}", data) for i, data in enumerate(encoded)]
        task.outcome["images"] = keys
        if self.links is not None:
            task.outcome["urls"] = [self.links.sign(key, task.base_url or "") for key in keys]
        return keys

    @contextmanager
    def _overrides(self, request: GenerationRequest) -> Iterator[None]:
        saved = {}
        try:
            for key, value in request.override_settings.items():
                saved[key] = self.options.get(key) if key in self.options.table else None
                self.options.validate(key, value, is_api=True)
            for key, value in request.override_settings.items():
                self.options.set(key, value, is_api=True, run_callbacks=False)
            yield
        finally:
            if request.override_settings_restore_afterwards:
                for key, value in saved.items():
                    if key in self.options.table:
                        self.options.set(key, value, is_api=False, run_callbacks=False)

    def _run(self, task: Task, request: GenerationRequest) -> EncodedResult:
        """A1111's order: the selected script's run() (which may call process_images), else process_images."""
        started = time.perf_counter()
        self._task = task
        self._budget = ImageBudget(self.limits.max_images) if self.limits is not None else None
        try:
            runner = request.scripts
            if runner is not None:
                runner.setup(request)
            result = runner.run(request) if runner is not None else None
            if result is None:
                result = self.process_images(request)
        finally:
            self._task = None
        encoded = [self.encode(image, text, result.samples_format)
                   for image, text in zip(result.images, result.infotexts)]
        task.outcome["info"] = result.info
        keys = self.store_outputs(task, encoded, result.samples_format)
        return EncodedResult(result=result, encoded=encoded, total_time=time.perf_counter() - started, keys=keys)

    def process_images(self, request: GenerationRequest) -> GenerationResult:
        """Generate now, on the worker thread, inside the running task (progress and control are its)."""
        task = self._task
        if task is None:
            raise RuntimeError("process_images must run inside a generation task")
        if task.control.interrupted:  # cancelled: a script's remaining generations end at once
            empty = {"all_prompts": [], "all_negative_prompts": [], "all_seeds": [], "all_subseeds": [], "infotexts": []}
            return GenerationResult(images=[], infotexts=[], info=empty, seeds=[], subseeds=[], interrupted=True)
        if self._budget is not None:
            self._budget.charge(request)
        runner = request.scripts
        with self.models.lock, self._overrides(request):
            if runner is not None:
                runner.before_process(request)
            # the request's own choice first: options may be changed by other threads meanwhile
            checkpoint = request.sd_model_checkpoint or request.override_settings.get("sd_model_checkpoint") \
                or self.options.get("sd_model_checkpoint")
            loaded = self.models.load(checkpoint or None)
            if not request.sd_model_checkpoint and not request.override_settings.get("sd_model_checkpoint") \
                    and self.options.get("sd_model_checkpoint") != loaded.info.title:
                self.options.set("sd_model_checkpoint", loaded.info.title, is_api=False, run_callbacks=False)
            self.models.set_vae(self.options.get("sd_vae"))
            view = self.models.view()
            fill_seeds_and_prompts(request)
            if request.styles:
                prompt, negative = self.styles.apply(request.prompt, request.negative_prompt, request.styles)
                request.all_prompts = [prompt] * len(request.all_prompts)
                request.all_negative_prompts = [negative] * len(request.all_negative_prompts)
            if runner is not None:
                runner.process(request)
            progress = task.progress
            progress.started_at = progress.started_at or time.time()
            progress.preview_family = view.family
            progress.sampling_steps = request.steps

            def on_job(n: int, count: int) -> None:
                progress.job_no, progress.job_count, progress.sampling_step = n, count, 0

            def on_step(step: int, total: int, latents) -> None:
                progress.sampling_step, progress.sampling_steps, progress.latents = step, total, latents

            task.control.on_step = on_step
            result = self.generator.run(request, view, task.control, on_job=on_job)
            result.samples_format = self.options.get("samples_format")
            progress.job_no = progress.job_count
            if runner is not None:
                runner.postprocess(request, result)
            if not request.do_not_save_samples and self.options.get("samples_save") and self.data_dir is not None:
                # API `save_images: true` (A1111): also write the images to the outputs folders.
                folder = image_saving.samples_folder(self.options, self.data_dir, request.mode)
                image_saving.save_images(folder, result.images, result.infotexts, result.seeds,
                                         fmt=result.samples_format, options=self.options, p=request)
        return result

    def encode(self, image, infotext: str, fmt: str) -> bytes:
        text = infotext if self.options.get("enable_pnginfo") else None
        return image_utils.encode_image(image, fmt=fmt, infotext=text,
                                        jpeg_quality=int(self.options.get("jpeg_quality")),
                                        webp_lossless=bool(self.options.get("webp_lossless")))

    def submit_extras(self, image, params: dict[str, Any], **kwargs: Any) -> Task:
        """Queue an extras (upscale) task on the worker (arguments: see `make_extras_task`)."""
        return self.submit_task(self.make_extras_task(image, params, **kwargs))

    def make_extras_task(self, image, params: dict[str, Any], *, max_pixels: int, user: str | None = None,
                         task_id: str | None = None, idempotency_key: str | None = None,
                         webhook_url: str | None = None, base_url: str | None = None,
                         replay: dict | None = None) -> Task:
        """An extras (upscale) task, not yet queued; `params` holds the A1111 extras fields.
        `replay` (JSON, image included) makes it replayable after a restart."""
        from modules import upscalers

        names = ("resize_mode", "upscaling_resize", "upscaling_resize_w", "upscaling_resize_h", "upscaling_crop",
                 "upscaler_1", "upscaler_2", "extras_upscaler_2_visibility")

        def run(task: Task) -> EncodedResult:
            started = time.perf_counter()
            result, info = upscalers.run_extras(image, max_pixels=max_pixels, **{k: params[k] for k in names})
            fmt = self.options.get("samples_format")
            data = image_utils.encode_image(result, fmt=fmt, infotext=None,
                                            jpeg_quality=int(self.options.get("jpeg_quality")))
            task.outcome["info"] = {"html_info": f"<p>{info}</p>"}
            keys = self.store_outputs(task, [data], fmt)
            done = GenerationResult(images=[result], infotexts=[""], info={"html_info": f"<p>{info}</p>"},
                                    seeds=[], subseeds=[])
            return EncodedResult(result=done, encoded=[data], total_time=time.perf_counter() - started, keys=keys)

        return Task(kind="extras", run=run, id=check_task_id(task_id) if task_id else "", user=user,
                    params=replay, summary={k: params.get(k) for k in names}, idempotency_key=idempotency_key,
                    webhook_url=webhook_url, base_url=base_url)
