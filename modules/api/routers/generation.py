"""POST /sdapi/v1/txt2img and /sdapi/v1/img2img."""
from __future__ import annotations

import asyncio
import base64
import json

from fastapi import APIRouter

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.models import GenerationBody, GenerationResponse, Img2ImgBody, Txt2ImgBody
from modules.api.to_request import Limits, build_request

router = APIRouter(prefix="/sdapi/v1", tags=["generation"])


def _echo_parameters(body: GenerationBody) -> dict:
    params = body.model_dump()
    if isinstance(body, Img2ImgBody) and not body.include_init_images:
        params["init_images"] = None
        params["mask"] = None
    params.pop("include_init_images", None)
    return params


async def _generate(body: GenerationBody, services, user: str | None) -> GenerationResponse:
    request = build_request(body, Limits.from_cmd_opts(services.cmd_opts), services.options)
    request.user = user
    runner = services.scripts.runner(request.mode)
    script, request.script_args = runner.build_args(body.script_name, body.script_args, body.alwayson_scripts)
    request.scripts = runner
    request.script_name = body.script_name if script is not None else None
    request.alwayson_entries = runner.plain_alwayson_entries(body.alwayson_scripts)
    task = services.generation.submit(request, task_id=body.force_task_id)
    done = await asyncio.wrap_future(task.future)
    images = [base64.b64encode(data).decode("ascii") for data in done.encoded] if body.send_images else []
    return GenerationResponse(images=images, parameters=_echo_parameters(body), info=json.dumps(done.result.info))


@router.post("/txt2img", response_model=GenerationResponse)
async def txt2img(body: Txt2ImgBody, services: ServicesDep, user: ApiUser) -> GenerationResponse:
    return await _generate(body, services, user)


@router.post("/img2img", response_model=GenerationResponse)
async def img2img(body: Img2ImgBody, services: ServicesDep, user: ApiUser) -> GenerationResponse:
    return await _generate(body, services, user)
