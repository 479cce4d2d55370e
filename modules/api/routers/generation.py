"""POST /sdapi/v1/txt2img and /sdapi/v1/img2img: every call is a recorded task.

Sync (default): wait and answer in the A1111 shape. Async (`Request-Type: async` or `?async=true`): answer at
once with the task id; results by polling /sdapi/v1/tasks/{id}, the SSE stream, the webhook or the result
subscription. `?task_id=`, `force_task_id` or `alwayson_scripts.id_task` choose the id; `Idempotency-Key`
returns the same task for the same key within 24 h.
"""
from __future__ import annotations

import asyncio
import base64
import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.models import GenerationBody, GenerationResponse, Img2ImgBody, Txt2ImgBody
from modules.api.routers import task_submit as ts
from modules.api.to_request import Limits, build_request
from modules.processing import GenerationRequest
from modules.request_limits import check_plan
from modules.tasks.store_base import TaskRecord
from modules.tasks.webhooks import check_webhook_url

router = APIRouter(prefix="/sdapi/v1", tags=["generation"])


class Txt2ImgTaskBody(Txt2ImgBody):
    webhook_url: str | None = None


class Img2ImgTaskBody(Img2ImgBody):
    webhook_url: str | None = None


BODIES: dict[str, type[GenerationBody]] = {"txt2img": Txt2ImgTaskBody, "img2img": Img2ImgTaskBody}


def _echo_parameters(params: dict, kind: str) -> dict:
    params = dict(params)
    if kind == "img2img" and not params.get("include_init_images"):
        params["init_images"] = None
        params["mask"] = None
    params.pop("include_init_images", None)
    params.pop("webhook_url", None)
    return params


def prepare(body: GenerationBody, services, user: str | None) -> GenerationRequest:
    """The validated GenerationRequest of a body, scripts resolved (also used to rebuild stored tasks)."""
    limits = Limits.from_cmd_opts(services.cmd_opts)
    request = build_request(body, limits, services.options)
    request.user = user
    runner = services.scripts.runner(request.mode)
    script, request.script_args = runner.build_args(body.script_name, body.script_args, body.alwayson_scripts)
    request.scripts = runner
    request.script_name = body.script_name if script is not None else None
    request.alwayson_entries = runner.plain_alwayson_entries(body.alwayson_scripts)
    if script is not None:  # a script's generations count against the image cap before it is queued
        check_plan(runner.plan(request), limits.costs, script=request.script_name)
    return request


def register_restorers(services) -> None:
    """Teach the generation service to rebuild stored txt2img/img2img tasks after a restart."""

    def make(kind: str):
        def restore(record: TaskRecord):
            body = BODIES[kind].model_validate(record.params)
            request = prepare(body, services, record.user)
            return services.generation.make_task(request, task_id=record.id, params=record.params,
                                                 idempotency_key=record.idempotency_key,
                                                 webhook_url=record.webhook_url, base_url=record.base_url)
        return restore

    for kind in BODIES:
        services.generation.restorers[kind] = make(kind)


def submit_body(body: GenerationBody, services, user: str | None, http: Request, *,
                request: GenerationRequest | None = None):
    """Queue a txt2img/img2img body as a task (after the idempotency check); returns the live task."""
    webhook_url = getattr(body, "webhook_url", None)
    if webhook_url:
        check_webhook_url(webhook_url, services.cmd_opts.webhook_allow_private)
    request = request or prepare(body, services, user)
    return services.generation.submit(request, task_id=ts.chosen_task_id(http, body),
                                      params=body.model_dump(mode="json"), idempotency_key=ts.idempotency_key(http),
                                      webhook_url=webhook_url, base_url=ts.base_url(http))


def _from_record(services, record: TaskRecord, send_images: bool) -> GenerationResponse:
    from modules.errors import EaselError, InterruptedError_

    if record.status.value == "failed" or (record.status.value == "cancelled" and not record.images):
        error = InterruptedError_ if record.status.value == "cancelled" else EaselError
        raise error(record.error or f"task {record.id} {record.status.value}")
    images = ts.stored_images_b64(services, record) if send_images else []
    return GenerationResponse(images=images, parameters=_echo_parameters(record.params or {}, record.kind),
                              info=json.dumps(record.info))


async def _generate(body: GenerationBody, services, user: str | None, http: Request,
                    response: Response):
    existing = ts.find_idempotent(services, user, ts.idempotency_key(http))
    if existing is not None:
        response.headers["X-Task-Id"] = existing.id
        if ts.is_async(http):
            return JSONResponse(ts.async_answer(services, existing, http), headers={"X-Task-Id": existing.id})
        record = await ts.wait_finished(services, existing.id)
        return _from_record(services, record, body.send_images)
    task = submit_body(body, services, user, http)
    response.headers["X-Task-Id"] = task.id
    if ts.is_async(http):
        return JSONResponse(ts.async_answer(services, ts.record_or_waiting(services, task), http),
                            headers={"X-Task-Id": task.id})
    done = await asyncio.wrap_future(task.future)
    images = [base64.b64encode(data).decode("ascii") for data in done.encoded] if body.send_images else []
    return GenerationResponse(images=images, parameters=_echo_parameters(body.model_dump(), task.kind),
                              info=json.dumps(done.result.info))


@router.post("/txt2img", response_model=GenerationResponse)
async def txt2img(body: Txt2ImgTaskBody, services: ServicesDep, user: ApiUser, http: Request,
                  response: Response):
    return await _generate(body, services, user, http, response)


@router.post("/img2img", response_model=GenerationResponse)
async def img2img(body: Img2ImgTaskBody, services: ServicesDep, user: ApiUser, http: Request,
                  response: Response):
    return await _generate(body, services, user, http, response)
