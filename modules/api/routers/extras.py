"""POST /sdapi/v1/extra-single-image and /extra-batch-images (upscaling postprocessing)."""
from __future__ import annotations

import base64

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from modules import images as image_utils
from modules import upscalers
from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.models import ExtrasBaseBody, ExtrasBatchBody, ExtrasSingleBody
from modules.errors import InvalidRequestError

router = APIRouter(prefix="/sdapi/v1", tags=["extras"])


def _process(image, body: ExtrasBaseBody, services) -> tuple[str, str]:
    max_pixels = services.cmd_opts.max_width ** 2
    result, info = upscalers.run_extras(
        image, resize_mode=body.resize_mode, upscaling_resize=body.upscaling_resize,
        upscaling_resize_w=body.upscaling_resize_w, upscaling_resize_h=body.upscaling_resize_h,
        upscaling_crop=body.upscaling_crop, upscaler_1=body.upscaler_1, upscaler_2=body.upscaler_2,
        extras_upscaler_2_visibility=body.extras_upscaler_2_visibility, max_pixels=max_pixels)
    fmt = services.options.get("samples_format")
    data = image_utils.encode_image(result, fmt=fmt, infotext=None,
                                    jpeg_quality=int(services.options.get("jpeg_quality")))
    return base64.b64encode(data).decode("ascii"), f"<p>{info}</p>"


@router.post("/extra-single-image")
async def extra_single_image(body: ExtrasSingleBody, services: ServicesDep, _user: ApiUser) -> dict:
    if not body.image:
        raise InvalidRequestError("image: no image given", field="image")
    image = image_utils.decode_base64_image(body.image, field="image", max_pixels=services.cmd_opts.max_input_pixels)
    encoded, html_info = await run_in_threadpool(_process, image, body, services)
    return {"html_info": html_info, "image": encoded}


@router.post("/extra-batch-images")
async def extra_batch_images(body: ExtrasBatchBody, services: ServicesDep, _user: ApiUser) -> dict:
    out, html_info = [], ""
    for i, item in enumerate(body.imageList):
        image = image_utils.decode_base64_image(item.data, field=f"imageList[{i}].data",
                                                max_pixels=services.cmd_opts.max_input_pixels)
        encoded, html_info = await run_in_threadpool(_process, image, body, services)
        out.append(encoded)
    return {"html_info": html_info, "images": out}
