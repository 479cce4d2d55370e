"""The WebUI's own HTTP routes (same auth as /internal): Extra Networks previews and metadata. Files are found
through the model registries by (page, name); no path comes from the caller."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from modules.api.auth import require_ui_auth
from modules.api.deps import ServicesDep
from modules.errors import NotFoundError
from modules.ui.extra_networks_pages import page_by_id

PREFIX = "/internal/extra-networks"


def _card(services, page: str, name: str):
    found = page_by_id(page)
    card = found.card(services, name) if found is not None else None
    if card is None:
        raise NotFoundError(f"{page}: no extra network named {name!r}", field="name")
    return found, card


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["internal"], dependencies=[Depends(require_ui_auth)])

    @router.get("/preview")
    def preview(page: str, name: str, services: ServicesDep) -> FileResponse:
        _page, card = _card(services, page, name)
        if card.preview is None:
            raise NotFoundError(f"{page}/{name}: no preview image", field="name")
        return FileResponse(card.preview, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    @router.get("/metadata")
    def metadata(page: str, name: str, services: ServicesDep) -> dict:
        found, card = _card(services, page, name)
        return found.metadata(services, card.name) or {}

    return router
