"""POST /txt2img, /img2img and /extra_images of the serverless API.

`stable_diffusion_model` (required) and `sd_vae` become per-request overrides; images may be base64 or stored
paths; results are stored and returned as signed `ossUrl` links. `Request-Type: async` answers `{taskId, status}`
at once; the `taskId` header (or `?task_id=`) chooses the id.
"""
from __future__ import annotations

import asyncio

from fastapi import Request, Response
from pydantic import Field

from modules import images as image_utils
from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.models import ExtrasBaseBody
from modules.api.routers import task_submit as ts
from modules.api.routers.generation import Img2ImgTaskBody, Txt2ImgTaskBody, submit_body
from modules.api.routers.serverless import image_input, new_router
from modules.errors import InvalidRequestError
from modules.tasks.payloads import signed_urls
from modules.tasks.store_base import TaskRecord
from modules.tasks.webhooks import check_webhook_url

router = new_router("serverless")


class ServerlessTxt2Img(Txt2ImgTaskBody):
    """The A1111 body plus the spec's fields (numbers the spec types as integers are accepted as floats)."""

    stable_diffusion_model: str = Field(..., min_length=1)
    sd_vae: str | None = None
    save_dir: str | None = None  # accepted; results always go to the task storage


class ServerlessImg2Img(Img2ImgTaskBody):
    stable_diffusion_model: str = Field(..., min_length=1)
    sd_vae: str | None = None
    save_dir: str | None = None


class ServerlessExtras(ExtrasBaseBody):
    image: str = Field(..., min_length=1)
    stable_diffusion_model: str | None = None  # accepted and ignored: upscaling needs no checkpoint
    webhook_url: str | None = None


def _apply_models(body, services) -> None:
    """The spec's model fields as per-request option overrides (validated: unknown names are 404)."""
    overrides = dict(body.override_settings or {})
    overrides["sd_model_checkpoint"] = services.checkpoints.get(body.stable_diffusion_model,
                                                                field="stable_diffusion_model").title
    if body.sd_vae:
        services.vaes.check(body.sd_vae, field="sd_vae")
        overrides["sd_vae"] = body.sd_vae
    body.override_settings = overrides


def _answer(services, record: TaskRecord, request: Request, response: Response, message: str) -> dict:
    response.headers["taskId"] = record.id
    return {"taskId": record.id, "status": record.status.value,
            "ossUrl": signed_urls(record, services.links, ts.base_url(request)), "message": message}


async def _run(task_or_record, services, request: Request, response: Response) -> dict:
    record = task_or_record if isinstance(task_or_record, TaskRecord) else ts.record_or_waiting(services, task_or_record)
    if ts.is_async(request) and not record.status.finished:
        return _answer(services, record, request, response, "Task has been successfully submitted.")
    live = None if isinstance(task_or_record, TaskRecord) else task_or_record
    record = await ts.wait_finished(services, record.id, live)
    if record.status.value == "failed":
        from modules.errors import EaselError

        raise EaselError(record.error or "generation failed")
    return _answer(services, record, request, response, record.error or "success")


async def _generate(body, services, user: str | None, request: Request, response: Response) -> dict:
    existing = ts.find_idempotent(services, user, ts.idempotency_key(request))
    if existing is not None:
        return await _run(existing, services, request, response)
    _apply_models(body, services)
    if isinstance(body, ServerlessImg2Img):
        body.init_images = [image_input(services, v, f"init_images[{i}]") for i, v in enumerate(body.init_images or [])]
        body.mask = image_input(services, body.mask, "mask")
    alwayson = body.alwayson_scripts or {}
    for unit_index, unit in enumerate((alwayson.get("controlnet") or {}).get("args") or []):
        if isinstance(unit, dict) and isinstance(unit.get("image"), str):
            unit["image"] = image_input(services, unit["image"], f"controlnet.args[{unit_index}].image")
    task = await asyncio.to_thread(submit_body, body, services, user, request)
    return await _run(task, services, request, response)


@router.post("/txt2img")
async def txt2img(body: ServerlessTxt2Img, services: ServicesDep, user: ApiUser, request: Request,
                  response: Response) -> dict:
    return await _generate(body, services, user, request, response)


@router.post("/img2img")
async def img2img(body: ServerlessImg2Img, services: ServicesDep, user: ApiUser, request: Request,
                  response: Response) -> dict:
    if not body.init_images:
        raise InvalidRequestError("init_images: at least one image (base64 or stored path) is required",
                                  field="init_images")
    return await _generate(body, services, user, request, response)


def _submit_extras(body: ServerlessExtras, services, user: str | None, request: Request | None = None,
                   record: TaskRecord | None = None):
    data = image_input(services, body.image, "image")
    image = image_utils.decode_base64_image(data, field="image", max_pixels=services.cmd_opts.max_input_pixels)
    replay = {**body.model_dump(mode="json"), "image": data}
    common = dict(max_pixels=services.cmd_opts.max_width ** 2, user=user, replay=replay)
    if record is not None:
        return dict(image=image, params=body.model_dump(), task_id=record.id,
                    idempotency_key=record.idempotency_key, webhook_url=record.webhook_url,
                    base_url=record.base_url, **common)
    if body.webhook_url:
        check_webhook_url(body.webhook_url, services.cmd_opts.webhook_allow_private)
    return services.generation.submit_extras(
        image, body.model_dump(), task_id=ts.chosen_task_id(request), idempotency_key=ts.idempotency_key(request),
        webhook_url=body.webhook_url, base_url=ts.base_url(request), **common)


@router.post("/extra_images")
async def extra_images(body: ServerlessExtras, services: ServicesDep, user: ApiUser, request: Request,
                       response: Response) -> dict:
    existing = ts.find_idempotent(services, user, ts.idempotency_key(request))
    if existing is not None:
        return await _run(existing, services, request, response)
    task = await asyncio.to_thread(_submit_extras, body, services, user, request)
    return await _run(task, services, request, response)


def register_restorers(services) -> None:
    """Extras tasks are rebuilt from their stored body (image included) after a restart."""

    def restore(record: TaskRecord):
        body = ServerlessExtras.model_validate(record.params)
        kwargs = _submit_extras(body, services, record.user, record=record)
        task = services.generation.make_extras_task(**kwargs)
        return task

    services.generation.restorers["extras"] = restore
