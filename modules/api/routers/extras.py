"""POST /sdapi/v1/extra-single-image and /extra-batch-images (upscaling postprocessing), as queued tasks.

Each image is one `extras` task on the worker, recorded like every generation. extra-single-image also takes
`Request-Type: async` (or `?async=true`) and then answers at once with the task id.
"""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.models import ExtrasBaseBody, ExtrasBatchBody, ExtrasSingleBody
from modules.api.routers import task_submit as ts
from modules.errors import InvalidRequestError, error_with_status
from modules.services import Services
from modules.tasks.common import TaskStatus
from modules.tasks.store_base import TaskRecord


def extras_params(body: ExtrasBaseBody) -> dict:
    return body.model_dump(exclude={"image", "imageList", "priority"})


router = APIRouter(prefix="/sdapi/v1", tags=["extras"])


async def _submit(services: Services, body: ExtrasBaseBody, data: str, field: str, http: Request,
                  user: str | None, with_id: bool) -> TaskRecord:
    sub = ts.submission(http, user, body, with_id=with_id)
    if not with_id:
        sub.idempotency_key = None
    return await asyncio.to_thread(services.pipeline.submit_extras, data, extras_params(body), sub, field=field)


async def finished_image(services: Services, record: TaskRecord) -> tuple[str, str]:
    """(base64 image, html_info) of a finished extras task; its error otherwise."""
    record = await services.queue.wait(record.id)
    if record.status != TaskStatus.SUCCEEDED or not record.images:
        raise error_with_status(record.error or f"extras task {record.id} {record.status.value}", record.error_code)
    return ts.stored_images_b64(services, record)[0], (record.info or {}).get("html_info", "")


@router.post("/extra-single-image")
async def extra_single_image(body: ExtrasSingleBody, services: ServicesDep, user: ApiUser, http: Request):
    if not body.image:
        raise InvalidRequestError("image: no image given", field="image")
    record = await _submit(services, body, body.image, "image", http, user, with_id=True)
    if ts.is_async(http):
        return JSONResponse(ts.async_answer(services, record, http), headers={"X-Task-Id": record.id})
    image, html_info = await finished_image(services, record)
    return JSONResponse({"html_info": html_info, "image": image}, headers={"X-Task-Id": record.id})


@router.post("/extra-batch-images")
async def extra_batch_images(body: ExtrasBatchBody, services: ServicesDep, user: ApiUser, http: Request) -> dict:
    records = [await _submit(services, body, item.data, f"imageList[{i}].data", http, user, with_id=False)
               for i, item in enumerate(body.imageList)]
    results = [await finished_image(services, record) for record in records]
    return {"html_info": results[-1][1] if results else "", "images": [image for image, _ in results]}
