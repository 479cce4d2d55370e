"""LoRA and textual-inversion listings: `/sdapi/v1/loras`, `/refresh-loras`, `/embeddings`, `/refresh-embeddings`."""
from __future__ import annotations

from fastapi import APIRouter

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep

router = APIRouter(prefix="/sdapi/v1", tags=["networks"])


@router.get("/loras")
def list_loras(services: ServicesDep, _user: ApiUser) -> list[dict]:
    """A1111 built-in Lora extension: [{name, alias, path, metadata}]."""
    return [entry.as_api() for entry in services.networks.loras.list()]


@router.post("/refresh-loras")
def refresh_loras(services: ServicesDep, _user: ApiUser) -> None:
    services.networks.loras.refresh()


@router.get("/embeddings")
def list_embeddings(services: ServicesDep, _user: ApiUser) -> dict:
    """{loaded: {name: {step, sd_checkpoint, sd_checkpoint_name, shape, vectors}}, skipped: {...}}."""
    loaded = services.models.loaded
    return services.networks.embeddings.api_listing(loaded.pipe if loaded is not None else None)


@router.post("/refresh-embeddings")
def refresh_embeddings(services: ServicesDep, _user: ApiUser) -> None:
    services.networks.embeddings.refresh(force=True)
