"""Cost allocation reports (GET /internal/usage): the usage recorded with each finished task (modules/tasks/usage.py),
summed per user over a time range of `finished_at`, as JSON or CSV."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from modules.errors import InvalidRequestError
from modules.tasks.store_base import TaskRecord, TaskStore
from modules.tasks.usage import TaskUsage

SUMS = ("run_seconds", "cpu_seconds", "gpu_seconds", "load_seconds", "images", "pixels")
TASK_COLUMNS = ("task_id", "user", "kind", "status", "created_at", "started_at", "finished_at", "queue_seconds",
                *SUMS, "cache_hit")
USER_COLUMNS = ("user", "tasks", "cache_hits", *SUMS)


def parse_time(value: str | None, field: str) -> float | None:
    """Unix seconds, or an ISO 8601 date / date-time (UTC when it names no zone); None when empty."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise InvalidRequestError(f"{field}: expected unix seconds or an ISO 8601 date, got {value!r}",
                                  field=field) from e
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def task_row(record: TaskRecord) -> dict[str, Any]:
    usage = record.usage or TaskUsage()
    queue = (record.started_at - record.created_at) if record.started_at is not None else None
    return {"task_id": record.id, "user": record.user, "kind": record.kind, "status": record.status.value,
            "created_at": record.created_at, "started_at": record.started_at, "finished_at": record.finished_at,
            "queue_seconds": round(queue, 6) if queue is not None else None, **usage.as_dict()}


def report(store: TaskStore, *, since: float | None, until: float | None, user: str | None,
           with_tasks: bool = False) -> dict[str, Any]:
    """{"from", "to", "user", "totals", "users": [per-user sums], "tasks": [rows] (with_tasks)}."""
    rows = [task_row(r) for r in store.list_usage(since=since, until=until, user=user)]
    users: dict[str | None, dict[str, Any]] = {}
    totals: dict[str, Any] = {"tasks": 0, "cache_hits": 0, **{name: 0 for name in SUMS}}
    for row in rows:
        entry = users.setdefault(row["user"], {"user": row["user"], "tasks": 0, "cache_hits": 0,
                                               **{name: 0 for name in SUMS}})
        for bucket in (entry, totals):
            bucket["tasks"] += 1
            bucket["cache_hits"] += int(bool(row["cache_hit"]))
            for name in SUMS:
                bucket[name] += row[name]
    for bucket in (*users.values(), totals):
        for name in ("run_seconds", "cpu_seconds", "gpu_seconds", "load_seconds"):
            bucket[name] = round(bucket[name], 6)
    out: dict[str, Any] = {"from": since, "to": until, "user": user, "totals": totals,
                           "users": sorted(users.values(), key=lambda e: (e["user"] is None, e["user"] or ""))}
    if with_tasks:
        out["tasks"] = rows
    return out


def to_csv(data: dict[str, Any], with_tasks: bool = False) -> str:
    """One row per user (or per task with `with_tasks`), with a header."""
    columns, rows = (TASK_COLUMNS, data["tasks"]) if with_tasks else (USER_COLUMNS, data["users"])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buffer.getvalue()
