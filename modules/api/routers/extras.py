"""POST /sdapi/v1/extra-single-image and /extra-batch-images (upscaling postprocessing), as queued tasks.

Each image is one `extras` task on the worker, recorded like every generation. extra-single-image also takes
`Request-Type: async` (or `?async=true`) and then answers at once with the task id.
"""
from __future__ import annotations

import asyncio
import base64

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from modules import images as image_utils
from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.models import ExtrasBaseBody, ExtrasBatchBody, ExtrasSingleBody
from modules.api.routers import task_submit as ts
from modules.errors import InvalidRequestError

router = APIRouter(prefix="/sdapi/v1", tags=["extras"])


def _submit(services, body: ExtrasBaseBody, data: str, field: str, user: str | None, http: Request,
            task_id: str | None = None):
    image = image_utils.decode_base64_image(data, field=field, max_pixels=services.cmd_opts.max_input_pixels)
    params = body.model_dump(exclude={"image", "imageList"})
    return services.generation.submit_extras(
        image, params, max_pixels=services.cmd_opts.max_width ** 2, user=user, task_id=task_id,
        idempotency_key=ts.idempotency_key(http) if task_id is not None else None, base_url=ts.base_url(http),
        replay={**params, "image": data})


async def _finish(task) -> tuple[str, str]:
    done = await asyncio.wrap_future(task.future)
    return base64.b64encode(done.encoded[0]).decode("ascii"), done.result.info["html_info"]


@router.post("/extra-single-image")
async def extra_single_image(body: ExtrasSingleBody, services: ServicesDep, user: ApiUser, http: Request):
    if not body.image:
        raise InvalidRequestError("image: no image given", field="image")
    task = await asyncio.to_thread(_submit, services, body, body.image, "image", user, http, ts.chosen_task_id(http))
    if ts.is_async(http):
        return JSONResponse(ts.async_answer(services, ts.record_or_waiting(services, task), http),
                            headers={"X-Task-Id": task.id})
    image, html_info = await _finish(task)
    return JSONResponse({"html_info": html_info, "image": image}, headers={"X-Task-Id": task.id})


@router.post("/extra-batch-images")
async def extra_batch_images(body: ExtrasBatchBody, services: ServicesDep, user: ApiUser, http: Request) -> dict:
    tasks = []
    for i, item in enumerate(body.imageList):
        tasks.append(await asyncio.to_thread(_submit, services, body, item.data, f"imageList[{i}].data", user, http))
    results = [await _finish(task) for task in tasks]
    return {"html_info": results[-1][1] if results else "", "images": [image for image, _ in results]}
