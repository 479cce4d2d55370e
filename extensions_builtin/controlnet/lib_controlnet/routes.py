"""The extension's REST routes (API version 3), behind the API auth:

GET /controlnet/version, /controlnet/model_list (?update=true rescans), /controlnet/module_list
(?alias_names=true lists the UI labels), /controlnet/control_types, /controlnet/settings; POST /controlnet/detect.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount

from lib_controlnet import images, preprocessors
from lib_controlnet.catalog import Catalog
from modules import images as image_utils
from modules.api.auth import require_api_auth
from modules.errors import InvalidRequestError

API_VERSION = 3
UNSUPPORTED = ("clip_vision", "revision_clipvision", "revision_ignore_prompt", "ip-adapter-auto")
MAX_DETECT_IMAGES = 16


class DetectBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    controlnet_module: str = "none"
    controlnet_input_images: list[str] = Field(default_factory=list)
    controlnet_images: list[str] | None = None  # the field's name in older versions of the extension
    controlnet_processor_res: float = -1
    controlnet_threshold_a: float = -1
    controlnet_threshold_b: float = -1
    controlnet_masks: list[str] = Field(default_factory=list)
    low_vram: bool = False


def detect(catalog: Catalog, module: str, inputs: list[str], masks: list[str], processor_res: float,
           threshold_a: float, threshold_b: float) -> list[Any]:
    """Run a preprocessor on base64 images; the detected maps as PIL images (the route and the UI's preview)."""
    spec = preprocessors.get(module)
    if spec is None:
        raise InvalidRequestError(f"controlnet_module: Module not available: {module!r}; valid: "
                                  f"{', '.join(p.name for p in preprocessors.sorted_all())}", field="controlnet_module")
    if module in UNSUPPORTED:
        raise InvalidRequestError(f"controlnet_module: Module not supported: {module!r}", field="controlnet_module")
    if not spec.weight_free:
        raise InvalidRequestError(f"controlnet_module: {catalog.annotator_message(spec)}", field="controlnet_module")
    if not inputs:
        raise InvalidRequestError("controlnet_input_images: No image selected", field="controlnet_input_images")
    if len(inputs) > MAX_DETECT_IMAGES:
        raise InvalidRequestError(f"controlnet_input_images: at most {MAX_DETECT_IMAGES} images per call",
                                  field="controlnet_input_images")
    resolution, a, b = spec.defaults(processor_res, threshold_a, threshold_b)
    rng = np.random.default_rng(0)
    out = []
    for i, data in enumerate(inputs):
        img = preprocessors.hwc3(images.decode(data, f"controlnet_input_images[{i}]", catalog.max_pixels()))
        if i < len(masks) and spec.accepts_mask:
            mask = preprocessors.hwc3(images.decode(masks[i], f"controlnet_masks[{i}]", catalog.max_pixels()))
            if mask.shape[:2] != img.shape[:2]:
                raise InvalidRequestError(f"controlnet_masks[{i}]: the mask's size differs from the image's",
                                          field=f"controlnet_masks[{i}]")
            img = np.concatenate([img, mask[:, :, :1]], axis=2)
        out.append(images.display_map(spec(img, resolution, a, b, rng)))
    return out


def control_type(catalog: Catalog, tag: str) -> dict[str, Any]:
    """The preprocessors and models of one control type (the extension's `select_control_type`)."""
    titles = ["None", *catalog.registry.titles()]
    if tag == "All":
        return {"module_list": [p.label for p in preprocessors.sorted_all()], "model_list": titles,
                "default_option": "none", "default_model": "None"}
    modules_ = [p for p in preprocessors.sorted_all() if tag in p.tags or p.label == "none"]
    filters = preprocessors.tag_filters(tag)
    matching = [t for t in titles if t == "None" or any(f in t.lower() for f in filters)]
    default_model = "None"
    if len(matching) > 1:
        default_model = next((t for t in matching[1:] if "11" in t.split("[")[0]), matching[1])
    return {"module_list": [p.label for p in modules_], "model_list": matching,
            "default_option": (modules_[1] if len(modules_) > 1 else modules_[0]).label,
            "default_model": default_model}


def build_router(catalog: Catalog) -> APIRouter:
    router = APIRouter(prefix="/controlnet", tags=["controlnet"], dependencies=[Depends(require_api_auth)])

    @router.get("/version")
    async def version() -> dict:
        return {"version": API_VERSION}

    @router.get("/model_list")
    async def model_list(update: bool = True) -> dict:
        entries = await run_in_threadpool(catalog.registry.refresh if update else catalog.registry.list)
        return {"model_list": [e.title for e in entries]}

    @router.get("/module_list")
    async def module_list(alias_names: bool = False) -> dict:
        listed = preprocessors.sorted_all()
        key = (lambda p: p.label) if alias_names else (lambda p: p.name)
        return {"module_list": [key(p) for p in listed], "module_detail": {key(p): p.detail() for p in listed}}

    @router.get("/control_types")
    async def control_types() -> dict:
        return {"control_types": {tag: control_type(catalog, tag) for tag in preprocessors.all_tags()}}

    @router.get("/settings")
    async def settings() -> dict:
        return {"control_net_unit_count": catalog.unit_count()}

    @router.post("/detect")
    async def detect_route(body: DetectBody) -> dict:
        inputs = body.controlnet_input_images or body.controlnet_images or []
        maps = await run_in_threadpool(detect, catalog, body.controlnet_module, inputs, body.controlnet_masks,
                                       body.controlnet_processor_res, body.controlnet_threshold_a,
                                       body.controlnet_threshold_b)
        return {"images": [image_utils.encode_image_base64(m) for m in maps], "info": "Success"}

    return router


def register_routes(app: FastAPI, catalog: Catalog) -> None:
    """Add the routes in front of a WebUI mounted at "/" (which would answer every path first)."""
    routes = app.router.routes
    before = len(routes)
    app.include_router(build_router(catalog))
    added = routes[before:]
    del routes[before:]
    catch_all = next((i for i, r in enumerate(routes) if isinstance(r, Mount) and r.path in ("", "/")), len(routes))
    routes[catch_all:catch_all] = added


__all__ = ["API_VERSION", "build_router", "control_type", "detect", "register_routes"]
