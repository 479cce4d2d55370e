"""The small HTTP app of a `--worker` process: no WebUI, no public API, only health and metrics.

- `GET /internal/ping`: `{}` (liveness; public, as on API processes);
- `GET /internal/health`: this worker (its heartbeat entry), 503 while Redis cannot be reached;
- `GET /metrics`: Prometheus text: tasks ended here by status, checkpoint loads, busy, waiting tasks.
"""
from __future__ import annotations

import threading
from collections import Counter

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from modules.api.app import services_lifespan
from modules.errors import EaselError
from modules.services import Services


class WorkerMetrics:
    def __init__(self) -> None:
        self.ended: Counter[str] = Counter()
        self._lock = threading.Lock()

    def on_finished(self, record) -> None:
        with self._lock:
            self.ended[record.status.value] += 1

    def render(self, services: Services) -> str:
        info = services.queue.registry.info() if hasattr(services.queue, "registry") else {}
        busy = sum(1 for w in services.workers if w.job is not None)
        lines = ["# TYPE easel_worker_tasks_total counter"]
        with self._lock:
            for status, count in sorted(self.ended.items()):
                lines.append(f'easel_worker_tasks_total{{status="{status}"}} {count}')
        lines += ["# TYPE easel_worker_model_loads_total counter", f"easel_worker_model_loads_total {info.get('loads', 0)}",
                  "# TYPE easel_worker_busy gauge", f"easel_worker_busy {busy}",
                  "# TYPE easel_worker_models_held gauge", f"easel_worker_models_held {len(info.get('models') or [])}"]
        try:
            waiting: int | None = services.queue.waiting_count()
        except EaselError:  # Redis away: the worker's own figures still answer
            waiting = None
        if waiting is not None:
            lines += ["# TYPE easel_queue_waiting gauge", f"easel_queue_waiting {waiting}"]
        if info.get("free_memory") is not None:
            lines += ["# TYPE easel_worker_free_memory_bytes gauge", f"easel_worker_free_memory_bytes {info['free_memory']}"]
        return "\n".join(lines) + "\n"


def create_worker_app(services: Services) -> FastAPI:
    metrics = WorkerMetrics()
    services.queue.on_finished.append(metrics.on_finished)

    app = FastAPI(title="Easel worker", lifespan=services_lifespan(services), docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services

    @app.get("/internal/ping")
    def ping() -> dict:
        return {}

    @app.get("/internal/health")
    def health() -> JSONResponse:
        names = {w.name for w in services.workers}
        try:
            announced = [w for w in services.queue.workers() if w.get("name") in names]
        except EaselError as e:
            return JSONResponse({"ok": False, "error": e.message}, status_code=503)
        local = [w.describe() for w in services.workers]
        ok = all(w["alive"] for w in local)
        return JSONResponse({"ok": ok, "workers": local, "announced": announced}, status_code=200 if ok else 503)

    @app.get("/metrics")
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(services), media_type="text/plain; version=0.0.4")

    return app
