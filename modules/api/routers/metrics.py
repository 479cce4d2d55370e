"""GET /metrics: Prometheus text format (admin credentials when auth is configured; docs/operations.md)."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from modules.api.auth import require_admin
from modules.api.deps import ServicesDep
from modules.metrics import CONTENT_TYPE

router = APIRouter(tags=["internal"], dependencies=[Depends(require_admin)])


@router.get("/metrics")
def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)
