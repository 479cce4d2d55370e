"""Wires the clustered-edition features into built services: metrics listeners, task usage charging, the prompt
guardrail, the NSFW censor and the result cache. Called once by `build_services`."""
from __future__ import annotations

from typing import TYPE_CHECKING

from modules.generation.result_cache import ResultCache
from modules.safety.blocklist import FILE_NAME, Blocklist
from modules.safety.guardrail import PromptGuard
from modules.tasks.common import TaskStatus
from modules.tasks.worker import current_job

if TYPE_CHECKING:
    from modules.services import Services


def charge_model_load(_title: str, seconds: float, _source: str) -> None:
    """A checkpoint load on a worker thread is part of the running task's cost."""
    job = current_job()
    if job is not None:
        job.usage.load_seconds += seconds


def attach(services: Services) -> None:
    cmd_opts, metrics, store = services.cmd_opts, services.metrics, services.task_store
    metrics.watch(lambda: (store.count(TaskStatus.WAITING), store.count(TaskStatus.RUNNING)),
                  lambda: [w.describe() for w in services.workers])
    services.queue.on_finished.append(metrics.observe_task)
    services.models.on_load_timed.extend([metrics.observe_model_load, charge_model_load])
    services.webhooks.on_failure.append(metrics.webhook_failed)

    guard = PromptGuard(Blocklist(services.paths.data_dir / FILE_NAME))
    guard.on_blocked.append(lambda rule: metrics.safety_event("prompt_blocked", rule))
    services.guard = services.pipeline.guard = guard

    censor = None
    if getattr(cmd_opts, "enable_nsfw_censor", False):
        from modules.safety.nsfw import NsfwCensor, check_installed

        check_installed()
        censor = NsfwCensor(cmd_opts.nsfw_threshold, cmd_opts.nsfw_censor_method)
        censor.on_censored.append(lambda rule: metrics.safety_event("nsfw_censored", rule))
        services.censor = services.jobs.censor = censor
    if getattr(cmd_opts, "result_cache", False):
        settings = {"nsfw_censor": [censor.threshold, censor.method] if censor is not None else None}
        cache = ResultCache(store, services.storage, checkpoints=services.checkpoints, vaes=services.vaes,
                            networks=services.networks, options=services.options, settings=settings)
        cache.on_lookup.append(metrics.cache_lookup)
        services.jobs.result_cache = cache
