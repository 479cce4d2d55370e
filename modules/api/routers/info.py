"""Options, models, samplers and the other informational /sdapi/v1 routes."""
from __future__ import annotations

from typing import Any

import psutil
from fastapi import APIRouter, Body

from modules import images as image_utils
from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.models import PngInfoBody
from modules.cmd_args import masked_flags
from modules.engine import samplers
from modules.errors import InvalidRequestError
from modules.styles import parse_infotext

router = APIRouter(prefix="/sdapi/v1", tags=["info"])


@router.get("/options")
def get_options(services: ServicesDep, _user: ApiUser) -> dict[str, Any]:
    return services.options.as_dict()


@router.post("/options")
def set_options(services: ServicesDep, _user: ApiUser, body: dict[str, Any] = Body(...)) -> None:
    options = services.options
    for key, value in body.items():
        options.validate(key, value, is_api=True)
    for key, value in body.items():
        options.set(key, value, is_api=True)
    options.save()
    return None


@router.get("/cmd-flags")
def cmd_flags(services: ServicesDep, _user: ApiUser) -> dict[str, Any]:
    return masked_flags(services.cmd_opts)  # A1111 shows the flags; Easel masks credentials and keys


@router.get("/samplers")
def list_samplers(_user: ApiUser) -> list[dict]:
    return [{"name": s.name, "aliases": list(s.aliases), "options": dict(s.options)} for s in samplers.SAMPLERS]


@router.get("/schedulers")
def list_schedulers(_user: ApiUser) -> list[dict]:
    return [{"name": s.name, "label": s.label, "aliases": list(s.aliases) or None, "default_rho": s.default_rho,
             "need_inner_model": s.need_inner_model} for s in samplers.SCHEDULES]


@router.get("/sd-models")
def sd_models(services: ServicesDep, _user: ApiUser) -> list[dict]:
    return [{"title": c.title, "model_name": c.model_name, "hash": c.shorthash, "sha256": c.sha256,
             "filename": str(c.filename), "config": str(c.config) if c.config else None}
            for c in services.checkpoints.list()]


@router.get("/sd-vae")
def sd_vae(services: ServicesDep, _user: ApiUser) -> list[dict]:
    return [v.as_api() for v in services.vaes.list()]


@router.post("/refresh-checkpoints")
def refresh_checkpoints(services: ServicesDep, _user: ApiUser) -> None:
    services.checkpoints.refresh()


@router.post("/refresh-vae")
def refresh_vae(services: ServicesDep, _user: ApiUser) -> None:
    services.vaes.refresh()


@router.post("/unload-checkpoint")
def unload_checkpoint(services: ServicesDep, _user: ApiUser) -> dict:
    with services.models.lock:
        services.models.unload()
    return {}


@router.post("/reload-checkpoint")
def reload_checkpoint(services: ServicesDep, _user: ApiUser) -> dict:
    with services.models.lock:
        services.models.load(services.options.get("sd_model_checkpoint") or None)
    return {}


@router.post("/png-info")
def png_info(body: PngInfoBody, services: ServicesDep, _user: ApiUser) -> dict:
    if not body.image:
        raise InvalidRequestError("image: no image given", field="image")
    image = image_utils.decode_base64_image(body.image, field="image", max_pixels=services.cmd_opts.max_input_pixels)
    text, items = image_utils.read_infotext(image)
    if text is None:
        return {"info": "", "items": items, "parameters": {}}
    params = parse_infotext(text, services.styles, services.options.get("infotext_styles"))
    return {"info": text, "items": items, "parameters": params}


@router.get("/memory")
def memory(services: ServicesDep, _user: ApiUser) -> dict:
    import torch

    vm = psutil.virtual_memory()
    ram = {"free": vm.available, "used": vm.total - vm.available, "total": vm.total}
    cache_state = getattr(services.models, "cache_state", None)
    # additive: this process's loaded model and RAM cache, and every worker (with a shared queue: of the cluster)
    easel = {"easel": {**(cache_state() if callable(cache_state) else {}), "workers": services.describe_workers()}}
    if not torch.cuda.is_available():
        return {"ram": ram, "cuda": {"error": "unavailable"}, **easel}
    free, total = torch.cuda.mem_get_info()
    stats = torch.cuda.memory_stats()

    def pair(name: str) -> dict:
        return {"current": stats.get(f"{name}.all.current", 0), "peak": stats.get(f"{name}.all.peak", 0)}

    cuda = {"system": {"free": free, "used": total - free, "total": total},
            "active": pair("active_bytes"), "allocated": pair("allocated_bytes"),
            "reserved": pair("reserved_bytes"), "inactive": pair("inactive_split_bytes"),
            "events": {"retries": stats.get("num_alloc_retries", 0), "oom": stats.get("num_ooms", 0)}}
    return {"ram": ram, "cuda": cuda, **easel}
