"""Lists of what is installed: upscalers, styles, hypernetworks, face restorers, ... and interrogate."""
from __future__ import annotations

from fastapi import APIRouter

from modules import upscalers
from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.models import InterrogateBody
from modules.errors import NotFoundError

router = APIRouter(prefix="/sdapi/v1", tags=["resources"])

LATENT_UPSCALE_MODES = ["Latent", "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)",
                        "Latent (nearest)", "Latent (nearest-exact)"]


@router.get("/upscalers")
def list_upscalers(services: ServicesDep, _user: ApiUser) -> list[dict]:
    services.sr_upscalers.refresh()  # files added since: only new or changed files are read
    return [{"name": u.name, "model_name": u.model_name, "model_path": u.model_path, "model_url": u.model_url,
             "scale": float(u.scale)} for u in upscalers.list_upscalers()]


@router.get("/latent-upscale-modes")
def latent_upscale_modes(_user: ApiUser) -> list[dict]:
    return [{"name": name} for name in LATENT_UPSCALE_MODES]


@router.get("/prompt-styles")
def prompt_styles(services: ServicesDep, _user: ApiUser) -> list[dict]:
    services.styles.reload()
    return [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt} for s in services.styles.list()]


@router.get("/hypernetworks")
def hypernetworks(services: ServicesDep, _user: ApiUser) -> list[dict]:
    registry = services.networks.hypernetworks
    registry.refresh()  # A1111 rescans on its refresh route; a GET here sees files copied in since
    return [item.as_api() for item in registry.list()]


@router.post("/refresh-upscalers")
def refresh_upscalers(services: ServicesDep, _user: ApiUser) -> None:
    """Easel: rescan the upscaler and face-restoration folders (the GET listings rescan too)."""
    services.sr_upscalers.refresh()


@router.get("/face-restorers")
def face_restorers(services: ServicesDep, _user: ApiUser) -> list[dict]:
    services.sr_upscalers.refresh()
    return services.face_restorers.listing()


@router.get("/realesrgan-models")
def realesrgan_models(services: ServicesDep, _user: ApiUser) -> list[dict]:
    services.sr_upscalers.refresh()
    return [{"name": e.name, "path": str(e.path), "scale": e.scale}
            for e in services.sr_upscalers.registry.upscalers() if e.kind == "RealESRGAN"]


@router.post("/interrogate")
def interrogate(body: InterrogateBody, _user: ApiUser) -> dict:
    if not body.image:
        raise NotFoundError("Image not found", field="image")
    raise NotFoundError("Model not found", field="model")
