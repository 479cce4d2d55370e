"""The one request pipeline: a txt2img/img2img/extras body becomes a validated request, its input images go to
the storage, and a task record (data only) goes on the queue. The /sdapi/v1 routes, the serverless routes and
the WebUI all submit through here; workers run the records (modules/generation/jobs.py)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from PIL import Image

from modules import postprocessing
from modules.errors import ConflictError, EaselError
from modules.generation.bodies import GenerationBody
from modules.generation.build import BuildContext, build_request, mode_of
from modules.generation.payload import input_key, png_bytes, store_inputs, to_payload
from modules.storage.base import Storage
from modules.tasks.common import check_task_id, new_task_id
from modules.tasks.queue_base import TaskQueue
from modules.tasks.scheduling import check_priority
from modules.tasks.store_base import TaskRecord
from modules.tasks.webhooks import check_webhook_url

logger = logging.getLogger(__name__)
IMAGE_PARAMS = ("init_images", "mask", "image", "imageList")


@dataclass
class Submission:
    """Who submits and how the task is to be delivered (not what it does)."""

    user: str | None = None
    task_id: str | None = None
    idempotency_key: str | None = None
    webhook_url: str | None = None
    base_url: str | None = None
    is_api: bool = True
    priority: str | None = None  # high / normal / low


class GenerationPipeline:
    def __init__(self, ctx: BuildContext, storage: Storage, queue: TaskQueue, *, webhook_allow_private: bool = False,
                 face_restorers: Any = None):
        self.ctx = ctx
        self.face_restorers = face_restorers  # which restorers are installed (extras check them before queueing)
        self.storage = storage
        self.queue = queue
        self.webhook_allow_private = webhook_allow_private
        self.guard: Any = None  # modules.safety.guardrail.PromptGuard: prompts checked before anything is stored
        self.quotas: Any = None  # modules.users.quota.UserQuotas: per-user priority and waiting-task limit

    def submit(self, body: GenerationBody, sub: Submission) -> TaskRecord:
        """Queue a txt2img/img2img body. InvalidRequestError (422) for bad input, QueueFullError (429) past the
        queue bound, ConflictError (409) for a task id in use."""
        kind = mode_of(body)
        priority = check_priority(sub.priority)
        task_id = self._task_id(kind, sub)
        request = build_request(body, self.ctx, is_api=sub.is_api, user=sub.user)
        if self.guard is not None:
            self.guard.check(request)
        request.task_id = task_id
        keys = store_inputs(request, task_id, self._write_image)
        inputs = [k for v in keys.values() for k in (v if isinstance(v, list) else [v]) if k]
        record = TaskRecord(id=task_id, kind=kind, user=sub.user, model=request.sd_model_checkpoint, priority=priority,
                            params=public_params(body), payload=to_payload(request, keys), inputs=inputs)
        return self._enqueue(record, sub)

    def submit_extras(self, image_b64: str, params: dict[str, Any], sub: Submission, *, field: str = "image",
                      save_output: bool = False, public: dict[str, Any] | None = None) -> TaskRecord:
        """Queue one extras (upscale) task for a base64 image (or a storage reference); `params` holds the A1111
        extras fields."""
        image = self.ctx.inputs.decode(image_b64, field=field, max_pixels=self.ctx.limits.max_input_pixels)
        return self.submit_extras_image(image, params, sub, save_output=save_output, public=public)

    def submit_extras_image(self, image: Image.Image, params: dict[str, Any], sub: Submission, *,
                            save_output: bool = False, public: dict[str, Any] | None = None) -> TaskRecord:
        settings = postprocessing.ExtrasSettings.from_params(params).as_params()
        priority = check_priority(sub.priority)
        postprocessing.check_extras(image, max_pixels=self.ctx.limits.max_size ** 2, face_restorers=self.face_restorers,
                                    **settings)
        task_id = self._task_id("extras", sub)
        key = self._write_image(input_key(task_id, "image"), image)
        payload = {"image": key, "params": settings, "save_output": save_output}
        record = TaskRecord(id=task_id, kind="extras", user=sub.user, params=public_params(public or params),
                            payload=payload, inputs=[key], priority=priority)
        return self._enqueue(record, sub)

    def _task_id(self, kind: str, sub: Submission) -> str:
        if not sub.task_id:
            return new_task_id(kind)
        task_id = check_task_id(sub.task_id)
        if self.queue.store.get(task_id) is not None:  # before anything is written under the id
            raise ConflictError(f"task id {task_id!r} is already in use", field="task_id")
        return task_id

    def _write_image(self, key: str, image: Image.Image) -> str:
        """Store an input image under `key`; an object of the store given by reference keeps its own key."""
        stored = self.ctx.inputs.stored_key(image)
        return stored if stored is not None else self.storage.write(key, png_bytes(image))

    def _enqueue(self, record: TaskRecord, sub: Submission) -> TaskRecord:
        if sub.webhook_url:
            check_webhook_url(sub.webhook_url, self.webhook_allow_private)
        record.idempotency_key, record.webhook_url, record.base_url = sub.idempotency_key, sub.webhook_url, sub.base_url
        try:
            if self.quotas is not None:
                self.quotas.admit(record, explicit_priority=bool(sub.priority))
            return self.queue.submit(record)
        except ConflictError:  # taken meanwhile by another submission: its inputs are not ours to delete
            raise
        except EaselError:
            if record.inputs:  # refused (queue full, id taken meanwhile): its stored inputs go too
                self.storage.delete_prefix(f"tasks/{record.id}/inputs")
            raise


def public_params(body: GenerationBody | Any) -> dict[str, Any]:
    """The request as the client sent it, for the "parameters" echo: JSON, without images and delivery fields."""
    params = body.model_dump(mode="json") if hasattr(body, "model_dump") else dict(body)
    for name in IMAGE_PARAMS:
        if params.get(name):
            params[name] = None
    params.pop("webhook_url", None)
    return params
