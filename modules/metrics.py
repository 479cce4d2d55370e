"""Prometheus metrics (GET /metrics): one registry per server, so several servers in one process (tests) keep
their own counts. Torch-free; the services feed it through listeners (modules/observability.py).

Names follow Prometheus conventions: counters end in `_total`, durations are seconds, histograms give
`_bucket`/`_sum`/`_count` (p50/p90/p99 via histogram_quantile). docs/operations.md lists every series.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
ANONYMOUS = "anonymous"  # the user label of tasks submitted without a user
disable_created_metrics()  # no `_created` series: they double the output and no dashboard here reads them
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class _LiveCollector:
    """Gauges read at scrape time: queue depth and running tasks (from the task store, so every process of a
    shared store reports the same), and each local worker's running task."""

    def __init__(self, counts: Callable[[], tuple[int, int]], workers: Callable[[], Iterable[dict]]):
        self.counts = counts
        self.workers = workers

    def collect(self) -> Iterable[GaugeMetricFamily]:
        waiting, running = self.counts()
        yield GaugeMetricFamily("easel_queue_depth", "Tasks waiting in the queue", value=waiting)
        yield GaugeMetricFamily("easel_running_tasks", "Tasks running now", value=running)
        per_worker = GaugeMetricFamily("easel_worker_running_tasks", "Tasks a worker of this process runs now",
                                       labels=["worker"])
        for worker in self.workers():
            per_worker.add_metric([str(worker.get("name"))], 1.0 if worker.get("state") == "busy" else 0.0)
        yield per_worker


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.request_seconds = Histogram("easel_http_request_duration_seconds", "HTTP request latency by route",
                                         ["method", "route"], registry=r, buckets=_REQUEST_BUCKETS)
        self.requests = Counter("easel_http_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=r)
        self.queue_wait = Histogram("easel_task_queue_wait_seconds", "Seconds a task waited before a worker took it",
                                    ["kind"], registry=r, buckets=_TASK_BUCKETS)
        self.task_run = Histogram("easel_task_run_seconds", "Seconds a worker ran a task", ["kind"], registry=r,
                                  buckets=_TASK_BUCKETS)
        self.tasks_finished = Counter("easel_tasks_finished", "Finished tasks by kind and final status",
                                      ["kind", "status"], registry=r)
        self.model_load_seconds = Histogram("easel_model_load_seconds",
                                            "Checkpoint loads (count) and their seconds, from disk or the RAM cache",
                                            ["source"], registry=r, buckets=_TASK_BUCKETS)
        self.images = Counter("easel_images_generated", "Result images returned by tasks", ["kind"], registry=r)
        self.pixels = Counter("easel_pixels_generated", "Pixels of the result images", ["kind"], registry=r)
        self.safety_events = Counter("easel_safety_events", "Prompts blocked and images censored",
                                     ["event", "rule"], registry=r)
        self.webhook_failures = Counter("easel_webhook_failures",
                                        "Failed webhook attempts (final=true: delivery given up)", ["final"],
                                        registry=r)
        self.result_cache = Counter("easel_result_cache_lookups", "--result-cache lookups", ["result"], registry=r)
        self.user_cpu = Counter("easel_user_cpu_seconds", "Worker CPU seconds charged to a user", ["user"], registry=r)
        self.user_gpu = Counter("easel_user_gpu_seconds", "Accelerator seconds charged to a user", ["user"],
                                registry=r)
        self.user_images = Counter("easel_user_images", "Result images charged to a user", ["user"], registry=r)

    def watch(self, counts: Callable[[], tuple[int, int]], workers: Callable[[], Iterable[dict]]) -> None:
        """Report queue depth and running tasks from `counts()` -> (waiting, running) and the local workers."""
        self.registry.register(_LiveCollector(counts, workers))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # -- feeds --------------------------------------------------------------------------------------------------
    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.request_seconds.labels(method, route).observe(seconds)
        self.requests.labels(method, route, str(status)).inc()

    def observe_task(self, record: Any) -> None:
        """A finished TaskRecord: its wait, run, images and the user's seconds."""
        kind = record.kind
        self.tasks_finished.labels(kind, record.status.value).inc()
        if record.started_at is not None:
            self.queue_wait.labels(kind).observe(max(0.0, record.started_at - record.created_at))
        usage = record.usage
        if usage is None:
            return
        user = record.user or ANONYMOUS
        self.task_run.labels(kind).observe(usage.run_seconds)
        self.images.labels(kind).inc(usage.images)
        self.pixels.labels(kind).inc(usage.pixels)
        self.user_cpu.labels(user).inc(usage.cpu_seconds)
        self.user_gpu.labels(user).inc(usage.gpu_seconds)
        self.user_images.labels(user).inc(usage.images)

    def observe_model_load(self, _title: str, seconds: float, source: str) -> None:
        self.model_load_seconds.labels(source).observe(seconds)

    def safety_event(self, event: str, rule: str) -> None:
        self.safety_events.labels(event, rule).inc()

    def webhook_failed(self, final: bool) -> None:
        self.webhook_failures.labels("true" if final else "false").inc()

    def cache_lookup(self, hit: bool) -> None:
        self.result_cache.labels("hit" if hit else "miss").inc()


def route_label(request: Any) -> str:
    """The route template that answered (`/sdapi/v1/txt2img`, `/agent/api/v1/tasks/{task_id}`), never the raw path
    (ids would make endless series); "unmatched" for 404s."""
    route = request.scope.get("route")
    if route is None:
        return "unmatched"
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "/"  # the WebUI's "/" mount has the empty path
