"""GET /internal/usage: cost allocation per user over a time range, JSON or CSV (admin)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from modules import usage
from modules.api.auth import require_admin
from modules.api.deps import ServicesDep
from modules.errors import InvalidRequestError

router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[Depends(require_admin)])
FORMATS = ("json", "csv")


@router.get("/usage")
def usage_report(request: Request, services: ServicesDep,
                 from_: str | None = Query(None, alias="from", description="unix seconds or ISO 8601 (inclusive)"),
                 to: str | None = Query(None, description="unix seconds or ISO 8601 (exclusive)"),
                 user: str | None = Query(None, description="only this user's tasks"),
                 format: str | None = Query(None, description="json (default) or csv; or send Accept: text/csv"),
                 tasks: bool = Query(False, description="also list every task (CSV: one row per task)")) -> Response:
    """Worker CPU/GPU seconds, model-load seconds, images and pixels of the tasks that finished in [from, to)."""
    wanted = (format or ("csv" if "text/csv" in request.headers.get("accept", "") else "json")).lower()
    if wanted not in FORMATS:
        raise InvalidRequestError(f"format: one of {', '.join(FORMATS)}, got {format!r}", field="format")
    since, until = usage.parse_time(from_, "from"), usage.parse_time(to, "to")
    data = usage.report(services.task_store, since=since, until=until, user=user, with_tasks=tasks)
    if wanted == "csv":
        return Response(usage.to_csv(data, with_tasks=tasks), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="easel-usage.csv"'})
    return JSONResponse(data)
