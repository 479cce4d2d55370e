"""The handlers of the generation task kinds (txt2img, img2img, extras), as a worker runs them.

A handler gets a claimed Job: it rebuilds the request from the payload, applies the request's option overlay
(never the global options), runs A1111's order (the selected script's run(), which may call process_images, else
process_images), checks the final request where the work starts, and writes the results through the storage.
The engine (torch, diffusers) is reached only through the objects given to the constructor.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from modules.generation.costs import ImageBudget
from modules.generation.limits import Limits, check_request
from modules.generation.outputs import ResultWriter
from modules.generation.payload import from_payload, read_image
from modules.generation.request import GenerationRequest, GenerationResult
from modules.image_saving import samples_folder
from modules.storage.base import Storage
from modules.styles import apply_styles
from modules.tasks.queue_base import Job
from modules.tasks.usage import device_time
from modules.tasks.worker import HandlerRegistry, Outcome, current_job

logger = logging.getLogger(__name__)
_budget = threading.local()  # the running job's ImageBudget, on its worker thread


def empty_result() -> GenerationResult:
    info: dict[str, Any] = {"all_prompts": [], "all_negative_prompts": [], "all_seeds": [], "all_subseeds": [],
                            "infotexts": []}
    return GenerationResult(images=[], infotexts=[], info=info, seeds=[], subseeds=[], interrupted=True)


@dataclass
class GenerationJobs:
    options: Any  # modules.options.Options
    models: Any  # modules.engine.model_manager.ModelManager
    generator: Any  # modules.engine.generator.Generator
    scripts: Any  # modules.scripts_runner.ScriptRegistry
    storage: Storage  # task inputs and results
    outputs: ResultWriter
    limits: Limits
    face_restorers: Any = None  # modules.engine.face_restoration.FaceRestorers
    censor: Any = None  # modules.safety.nsfw.NsfwCensor (--enable-nsfw-censor)
    result_cache: Any = None  # modules.generation.result_cache.ResultCache (--result-cache)

    def register(self, handlers: HandlerRegistry) -> None:
        handlers.register("txt2img", self.generate)
        handlers.register("img2img", self.generate)
        handlers.register("extras", self.extras)

    # -- txt2img / img2img ----------------------------------------------------------------------------------------
    def generate(self, job: Job) -> Outcome:
        p = from_payload(job.record.payload or {}, self.storage)
        p.task_id = job.id
        cached = self.result_cache.lookup(job) if self.result_cache is not None else None
        if cached is not None:
            if not p.override_settings_restore_afterwards:
                self._keep_overrides(p.override_settings)
            return cached
        runner = self.scripts.runner(p.mode)
        p.scripts = runner
        _budget.value = ImageBudget(self.limits.max_images)  # the image cap over all of a script's generations
        with self.options.overlay(p.override_settings):
            runner.setup(p)
            result = runner.run(p)
            if result is None:
                result = self.process_images(p)
            keys = self.outputs.store_results(job.id, result.images, result.infotexts, result.samples_format)
        job.usage.add_images(result.images)
        if not p.override_settings_restore_afterwards:
            self._keep_overrides(p.override_settings)
        return Outcome(images=keys, info=result.info)

    def _keep_overrides(self, overrides: dict[str, Any]) -> None:
        """A1111's `override_settings_restore_afterwards: false`: the overrides stay in effect after the job
        (in memory, not written to config.json), e.g. the managed-service checkpoint stays the current one."""
        for key, value in overrides.items():
            if key in self.options.table:
                self.options.set(key, value, is_api=False, run_callbacks=False)

    def process_images(self, p: GenerationRequest) -> GenerationResult:
        """A1111's process_images: generate now, on the worker thread, inside the running job."""
        job = current_job()
        if job is None:
            raise RuntimeError("process_images must run inside a generation task")
        if job.control.interrupted:  # cancelled: a script's remaining generations end at once
            return empty_result()
        budget = getattr(_budget, "value", None)
        if budget is not None:
            budget.charge(p)
        runner = p.scripts
        with self.models.lock, self.options.overlay(p.override_settings), \
                device_time(job.usage, self.models.precision.device.type):
            if runner is not None:
                runner.before_process(p)
            check_request(p, self.limits)  # the final request: scripts cannot bypass the limits
            loaded = self.models.load(p.sd_model_checkpoint)
            with self.options.overlay({"sd_model_checkpoint": loaded.info.title}):
                return self._process_loaded(p, job)

    def _process_loaded(self, p: GenerationRequest, job: Job) -> GenerationResult:
        from modules.engine.generator import fill_seeds_and_prompts

        runner = p.scripts
        self.models.set_vae(self.options.get("sd_vae"))
        view = self.models.view()
        fill_seeds_and_prompts(p)
        if p.style_prompts:
            prompt, negative = apply_styles(p.prompt, p.negative_prompt, p.style_prompts)
            p.all_prompts = [prompt] * len(p.all_prompts)
            p.all_negative_prompts = [negative] * len(p.all_negative_prompts)
        if runner is not None:
            runner.process(p)
        progress = job.progress
        progress.preview_family = view.family
        progress.sampling_steps = p.steps

        def on_job(n: int, count: int) -> None:
            progress.job_no, progress.job_count, progress.sampling_step = n, count, 0
            job.report()

        def on_step(step: int, total: int, latents: Any) -> None:
            progress.sampling_step, progress.sampling_steps = step, total
            job.report(latents)

        job.control.on_step = on_step
        result = self.generator.run(p, view, job.control, on_job=on_job)
        result.samples_format = self.options.get("samples_format")
        if self.censor is not None:  # before anything is saved, stored or returned
            self.censor.apply_result(result)
        progress.job_no = progress.job_count
        if not p.do_not_save_samples and self.options.get("samples_save"):
            self.outputs.save_samples(p.mode, result, p)
        if runner is not None:  # after saving, as A1111: images a script appends (ControlNet maps) are not samples
            runner.postprocess(p, result)
        return result

    # -- extras ---------------------------------------------------------------------------------------------------
    def extras(self, job: Job) -> Outcome:
        """Upscale one stored image (A1111 extras); `save_output` also writes it to the extras outputs folder."""
        from modules import postprocessing, upscalers

        payload = job.record.payload or {}
        image = read_image(self.storage, payload["image"])
        with upscalers.stop_check(lambda: job.control.interrupted):
            result, text = postprocessing.run_extras(image, max_pixels=self.limits.max_size ** 2,
                                                     face_restorers=self.face_restorers, **payload["params"])
        fmt = self.options.get("samples_format")
        info: dict[str, Any] = {"html_info": f"<p>{text}</p>"}
        if self.censor is not None:
            censored = [result]
            verdict = self.censor.apply(censored, [])[0]
            result = censored[0]
            info.update(nsfw_scores=[verdict.score], nsfw_censored=[verdict.censored])
            if verdict.censored:
                info["html_info"] += f"<p>NSFW censor: {self.censor.method}, NSFW score: {verdict.score}</p>"
        keys = self.outputs.store_results(job.id, [result], [None], fmt)
        job.usage.add_images([result])
        if payload.get("save_output"):
            folder = samples_folder(self.options, self.outputs.data_dir, "extras")
            self.outputs.save_to_folder(folder, [result], [None], [0], fmt)
        return Outcome(images=keys, info=info)
