"""Generation as tasks: a request becomes a queued task that the worker runs on the current model."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from collections.abc import Iterator

from modules import images as image_utils
from modules.engine.generator import Generator, fill_seeds_and_prompts
from modules.processing import GenerationRequest, GenerationResult
from modules.tasks.common import Task

logger = logging.getLogger(__name__)


@dataclass
class EncodedResult:
    """A finished generation with its images already encoded in the samples format."""

    result: GenerationResult
    encoded: list[bytes]
    total_time: float


class GenerationService:
    def __init__(self, options, models, generator: Generator, tasks, styles):
        self.styles = styles
        self._task: Task | None = None  # the task the worker thread is running
        self.options = options
        self.models = models
        self.generator = generator
        self.tasks = tasks

    def submit(self, request: GenerationRequest, *, task_id: str | None = None) -> Task:
        task = Task(kind=request.mode, run=lambda t: self._run(t, request), id=task_id or "", user=request.user)
        request.task_id = task.id
        return self.tasks.submit(task)

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
        return EncodedResult(result=result, encoded=encoded, total_time=time.perf_counter() - started)

    def process_images(self, request: GenerationRequest) -> GenerationResult:
        """Generate now, on the worker thread, inside the running task (progress and control are its)."""
        task = self._task
        if task is None:
            raise RuntimeError("process_images must run inside a generation task")
        runner = request.scripts
        with self._overrides(request), self.models.lock:
            if runner is not None:
                runner.before_process(request)
            checkpoint = request.sd_model_checkpoint or self.options.get("sd_model_checkpoint")
            loaded = self.models.load(checkpoint or None)
            if not request.sd_model_checkpoint and self.options.get("sd_model_checkpoint") != loaded.info.title:
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
        return result

    def encode(self, image, infotext: str, fmt: str) -> bytes:
        text = infotext if self.options.get("enable_pnginfo") else None
        return image_utils.encode_image(image, fmt=fmt, infotext=text,
                                        jpeg_quality=int(self.options.get("jpeg_quality")),
                                        webp_lossless=bool(self.options.get("webp_lossless")))
