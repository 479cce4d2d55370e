"""POST /txt2img, /img2img and /extra_images of the serverless API.

`stable_diffusion_model` (required) and `sd_vae` become per-request overrides; images may be base64, stored paths
or `oss://` / `s3://` references (serverless `image_input`); results are stored and returned as signed `ossUrl`
links (the object store's own signed URLs with `--storage-url oss://` / `s3://`). `Request-Type: async` answers `{taskId, status}`
at once; the `taskId` header (or `?task_id=`) chooses the id.
"""
from __future__ import annotations

import asyncio

from fastapi import Request, Response
from pydantic import Field

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.models import ExtrasBaseBody, Img2ImgBody, Txt2ImgBody
from modules.api.routers import task_submit as ts
from modules.api.routers.serverless import image_input, new_router
from modules.errors import InvalidRequestError, error_with_status
from modules.services import Services
from modules.tasks.common import TaskStatus
from modules.tasks.payloads import signed_urls
from modules.tasks.store_base import TaskRecord

router = new_router("serverless")


class ServerlessTxt2Img(Txt2ImgBody):
    """The A1111 body plus the spec's fields (numbers the spec types as integers are accepted as floats)."""

    stable_diffusion_model: str = Field(..., min_length=1)
    sd_vae: str | None = None
    save_dir: str | None = None  # accepted; results always go to the task storage


class ServerlessImg2Img(Img2ImgBody):
    stable_diffusion_model: str = Field(..., min_length=1)
    sd_vae: str | None = None
    save_dir: str | None = None


class ServerlessExtras(ExtrasBaseBody):
    image: str = Field(..., min_length=1)
    stable_diffusion_model: str | None = None  # accepted and ignored: upscaling needs no checkpoint
    webhook_url: str | None = None


def _apply_models(body: ServerlessTxt2Img | ServerlessImg2Img, services: Services) -> None:
    """The spec's model fields as per-request option overrides (validated: unknown names are 404)."""
    overrides = dict(body.override_settings or {})
    overrides["sd_model_checkpoint"] = services.checkpoints.get(body.stable_diffusion_model,
                                                                field="stable_diffusion_model").title
    if body.sd_vae:
        services.vaes.check(body.sd_vae, field="sd_vae")
        overrides["sd_vae"] = body.sd_vae
    body.override_settings = overrides


def _answer(services: Services, record: TaskRecord, request: Request, response: Response, message: str) -> dict:
    response.headers["taskId"] = record.id
    return {"taskId": record.id, "status": record.status.value,
            "ossUrl": signed_urls(record, services.links, ts.base_url(request)), "message": message}


async def _run(record: TaskRecord, services: Services, request: Request, response: Response) -> dict:
    if ts.is_async(request) and not record.status.finished:
        return _answer(services, record, request, response, "Task has been successfully submitted.")
    record = await services.queue.wait(record.id)
    if record.status == TaskStatus.FAILED:
        raise error_with_status(record.error or "generation failed", record.error_code)
    return _answer(services, record, request, response, record.error or "success")


def _submit(body: ServerlessTxt2Img | ServerlessImg2Img, services: Services, sub) -> TaskRecord:
    """Resolve the spec's model and image fields (stored paths and ControlNet references are read here, off the
    event loop), then submit."""
    _apply_models(body, services)
    if isinstance(body, ServerlessImg2Img):
        body.init_images = [image_input(services, v, f"init_images[{i}]") or "" for i, v in
                            enumerate(body.init_images or [])]
        body.mask = image_input(services, body.mask, "mask")
    alwayson = body.alwayson_scripts or {}
    for unit_index, unit in enumerate((alwayson.get("controlnet") or {}).get("args") or []):
        if isinstance(unit, dict) and isinstance(unit.get("image"), str):
            unit["image"] = image_input(services, unit["image"], f"controlnet.args[{unit_index}].image", inline=True)
    return services.pipeline.submit(body, sub)


async def _generate(body: ServerlessTxt2Img | ServerlessImg2Img, services: Services, user: str | None,
                    request: Request, response: Response) -> dict:
    existing = ts.find_idempotent(services, user, ts.idempotency_key(request))
    if existing is not None:
        return await _run(existing, services, request, response)
    record = await asyncio.to_thread(_submit, body, services, ts.submission(request, user, body))
    return await _run(record, services, request, response)


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


@router.post("/extra_images")
async def extra_images(body: ServerlessExtras, services: ServicesDep, user: ApiUser, request: Request,
                       response: Response) -> dict:
    existing = ts.find_idempotent(services, user, ts.idempotency_key(request))
    if existing is not None:
        return await _run(existing, services, request, response)
    params = body.model_dump(exclude={"image", "webhook_url", "stable_diffusion_model"})
    sub = ts.submission(request, user, body)

    def submit() -> TaskRecord:
        data = image_input(services, body.image, "image") or ""
        return services.pipeline.submit_extras(data, params, sub, public=body.model_dump())
    record = await asyncio.to_thread(submit)
    return await _run(record, services, request, response)
