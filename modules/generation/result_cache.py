"""--result-cache: a task whose request is identical to an earlier succeeded task of the same user gets that
task's images (copied to its own result keys) instead of running again. Easel's outputs are deterministic for a
fixed seed, so "identical" means: every payload field (input images by content hash), the checkpoint, VAE, LoRA,
embedding and hypernetwork files (hash, or size and modification time with --no-hashing), all options and the
censor settings. Never for a random seed (-1), a random variation seed in use, or a selectable script (scripts may
draw their own randomness).

Runs in the worker, before the model is loaded; the key is kept on the task record (store.set_result_key).
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modules.errors import EaselError
from modules.extra_networks import parse_extra_networks
from modules.storage.base import Storage
from modules.tasks.queue_base import Job
from modules.tasks.store_base import TaskStore
from modules.tasks.worker import Outcome

logger = logging.getLogger(__name__)
VERSION = 1  # bump when the key's ingredients change
_VOLATILE_OPTIONS = ("sd_model_checkpoint",)  # resolved into the payload per task; the global value is irrelevant


def cacheable(payload: dict[str, Any]) -> bool:
    if payload.get("seed", -1) == -1 or payload.get("script_name"):
        return False
    return not (payload.get("subseed", -1) == -1 and float(payload.get("subseed_strength") or 0) > 0)


def file_fingerprint(path: Path | None, sha256: str | None = None) -> Any:
    if path is None:
        return None
    if sha256:
        return sha256
    try:
        stat = Path(path).stat()
    except OSError:
        return [str(path), None]
    return [str(path), stat.st_size, stat.st_mtime_ns]


class ResultCache:
    def __init__(self, store: TaskStore, storage: Storage, *, checkpoints: Any, vaes: Any, networks: Any,
                 options: Any, settings: dict[str, Any] | None = None):
        self.store = store
        self.storage = storage
        self.checkpoints = checkpoints
        self.vaes = vaes
        self.networks = networks
        self.options = options
        self.settings = settings or {}  # server settings that change outputs (the NSFW censor)
        self.on_lookup: list[Callable[[bool], None]] = []  # listeners(hit): metrics

    def key(self, job: Job) -> str | None:
        payload = job.record.payload or {}
        if job.record.kind not in ("txt2img", "img2img") or not cacheable(payload):
            return None
        inputs = set(job.record.inputs)
        request = {k: v for k, v in payload.items() if k != "task_id"}
        material = {"version": VERSION, "kind": job.record.kind, "request": self._hash_inputs(request, inputs),
                    "models": self._models(payload), "options": self._options(), "settings": self.settings}
        text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _hash_inputs(self, value: Any, inputs: set[str]) -> Any:
        """Input images by the sha256 of their stored bytes (their keys name the task, so differ every time)."""
        if isinstance(value, str) and value in inputs:
            return "sha256:" + hashlib.sha256(self.storage.read(value)).hexdigest()
        if isinstance(value, list):
            return [self._hash_inputs(v, inputs) for v in value]
        if isinstance(value, dict):
            return {k: self._hash_inputs(v, inputs) for k, v in value.items()}
        return value

    def _options(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.as_dict().items() if k not in _VOLATILE_OPTIONS}

    def _models(self, payload: dict[str, Any]) -> dict[str, Any]:
        title = payload.get("sd_model_checkpoint")
        info = self.checkpoints.get(title) if title else self.checkpoints.first()
        overrides = payload.get("override_settings") or {}
        vae_choice = overrides.get("sd_vae", self.options.get("sd_vae"))
        vae = self.vaes.resolve(vae_choice, info) if info is not None else None
        prompts = [payload.get("prompt") or "", payload.get("negative_prompt") or "", payload.get("hr_prompt") or "",
                   *(p for pair in payload.get("style_prompts") or [] for p in pair)]
        loras = {}
        for prompt in prompts:
            for tag in parse_extra_networks(prompt)[1]:
                if tag.name == "lora" and tag.items:
                    lora = self.networks.loras.find(tag.items[0])
                    loras[tag.items[0]] = (lora.hash if lora.hashing else file_fingerprint(lora.path)) if lora else None
        return {"checkpoint": file_fingerprint(info.filename, info.sha256) if info is not None else None,
                "vae": [str(vae_choice), file_fingerprint(vae)], "loras": loras,
                "embeddings": self.networks.embeddings.signature,
                "hypernetworks": [[h.name, *h.stamp] for h in self.networks.hypernetworks.list()]}

    def lookup(self, job: Job) -> Outcome | None:
        """The outcome of an identical earlier task, its images copied under this task's id; None on a miss (the
        task then runs, and its key is kept so that later identical tasks find it)."""
        try:
            key = self.key(job)
        except EaselError as e:  # a model or input that vanished: the task itself will report it
            logger.debug("result cache: no key for %s: %s", job.id, e.message)
            return None
        if key is None:
            return None
        self.store.set_result_key(job.id, key)
        found = self.store.find_result(job.record.user, key)
        outcome = self._copy(found, job) if found is not None and found.id != job.id else None
        for listener in list(self.on_lookup):
            listener(outcome is not None)
        return outcome

    def _copy(self, found: Any, job: Job) -> Outcome | None:
        try:
            keys = []
            for i, source in enumerate(found.images):
                ext = source.rsplit(".", 1)[-1]
                keys.append(self.storage.write(f"tasks/{job.id}/{i:05d}.{ext}", self.storage.read(source)))
        except EaselError as e:  # deleted meanwhile (retention): run the task instead
            logger.info("result cache: the results of %s are gone (%s); running %s", found.id, e.message, job.id)
            return None
        info = dict(found.info) if isinstance(found.info, dict) else found.info
        if isinstance(info, dict):
            info["result_cache"] = {"hit": True, "task_id": found.id}
        usage = found.usage
        job.usage.cache_hit = True
        job.usage.images, job.usage.pixels = (usage.images, usage.pixels) if usage else (len(keys), 0)
        logger.info("result cache: task %s reuses the results of %s", job.id, found.id)
        return Outcome(images=keys, info=info)
