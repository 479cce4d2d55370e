"""POST /sdapi/v1/txt2img and /sdapi/v1/img2img: every call is a recorded task.

Sync (default): wait and answer in the A1111 shape. Async (`Request-Type: async` or `?async=true`): answer at
once with the task id; results by polling /sdapi/v1/tasks/{id}, the SSE stream, the webhook or the result
subscription. `?task_id=`, `force_task_id` or `alwayson_scripts.id_task` choose the id; `Idempotency-Key`
returns the same task for the same key within 24 h.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.models import GenerationBody, GenerationResponse, Img2ImgBody, Txt2ImgBody
from modules.api.routers import task_submit as ts
from modules.errors import InterruptedError_, error_with_status
from modules.services import Services
from modules.tasks.common import TaskStatus
from modules.tasks.store_base import TaskRecord

router = APIRouter(prefix="/sdapi/v1", tags=["generation"])


def echo_parameters(params: dict[str, Any], kind: str) -> dict[str, Any]:
    """A1111's "parameters": the request as sent; img2img images only with include_init_images."""
    params = dict(params)
    if kind == "img2img" and not params.get("include_init_images"):
        params["init_images"] = None
        params["mask"] = None
    params.pop("include_init_images", None)
    params.pop("webhook_url", None)
    return params


def result_response(services: Services, record: TaskRecord, send_images: bool,
                    parameters: dict[str, Any]) -> GenerationResponse:
    """The A1111 answer of a finished task (a cancelled one with images answers them: interrupted mid-way)."""
    if record.status == TaskStatus.CANCELLED and not record.images:
        raise InterruptedError_(record.error or f"task {record.id} was cancelled")
    if record.status == TaskStatus.FAILED:
        raise error_with_status(record.error or f"task {record.id} failed", record.error_code)
    images = ts.stored_images_b64(services, record) if send_images else []
    return GenerationResponse(images=images, parameters=parameters, info=json.dumps(record.info))


async def generate(body: GenerationBody, services: Services, user: str | None, http: Request,
                   response: Response) -> GenerationResponse | JSONResponse:
    kind = "img2img" if isinstance(body, Img2ImgBody) else "txt2img"
    record = ts.find_idempotent(services, user, ts.idempotency_key(http))
    parameters = echo_parameters((record.params or {}) if record is not None else body.model_dump(), kind)
    if record is None:
        record = await asyncio.to_thread(services.pipeline.submit, body, ts.submission(http, user, body))
    response.headers["X-Task-Id"] = record.id
    if ts.is_async(http):
        return JSONResponse(ts.async_answer(services, record, http), headers={"X-Task-Id": record.id})
    record = await services.queue.wait(record.id)
    return result_response(services, record, body.send_images, parameters)


@router.post("/txt2img", response_model=GenerationResponse)
async def txt2img(body: Txt2ImgBody, services: ServicesDep, user: ApiUser, http: Request, response: Response):
    return await generate(body, services, user, http, response)


@router.post("/img2img", response_model=GenerationResponse)
async def img2img(body: Img2ImgBody, services: ServicesDep, user: ApiUser, http: Request, response: Response):
    return await generate(body, services, user, http, response)
