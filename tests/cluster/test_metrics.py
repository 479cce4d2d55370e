"""GET /metrics, read with prometheus-client's parser: the values move as requests are made."""
from __future__ import annotations

from tests.cluster.helpers import SMALL, scrape, value
from tests.support import free_port, wait_for
from tests.tasks.helpers import ASYNC


def test_metrics_move_with_requests(cluster_server, bob):
    before = scrape(bob)
    assert bob.post("/sdapi/v1/txt2img", json={**SMALL, "seed": -1, "batch_size": 2}).status_code == 200
    after = scrape(bob)
    route = {"method": "POST", "route": "/sdapi/v1/txt2img"}
    assert value(after, "easel_http_request_duration_seconds_count", **route) == \
        value(before, "easel_http_request_duration_seconds_count", **route) + 1
    assert value(after, "easel_http_requests_total", status="200", **route) == \
        value(before, "easel_http_requests_total", status="200", **route) + 1
    assert value(after, "easel_http_request_duration_seconds_bucket", le="+Inf", **route) == \
        value(after, "easel_http_request_duration_seconds_count", **route)
    for name, labels, delta in (("easel_images_generated_total", {"kind": "txt2img"}, 2),
                                ("easel_pixels_generated_total", {"kind": "txt2img"}, 2 * 64 * 64),
                                ("easel_user_images_total", {"user": "bob"}, 2),
                                ("easel_task_run_seconds_count", {"kind": "txt2img"}, 1),
                                ("easel_task_queue_wait_seconds_count", {"kind": "txt2img"}, 1),
                                ("easel_tasks_finished_total", {"kind": "txt2img", "status": "succeeded"}, 1)):
        assert value(after, name, **labels) == value(before, name, **labels) + delta, name
    assert value(after, "easel_user_cpu_seconds_total", user="bob") > value(before, "easel_user_cpu_seconds_total",
                                                                            user="bob")
    assert ("easel_user_gpu_seconds_total", (("user", "bob"),)) in after  # 0 on CPU, but reported
    assert value(after, "easel_queue_depth") == 0 and value(after, "easel_running_tasks") == 0
    assert ("easel_worker_running_tasks", (("worker", "easel-worker-0"),)) in after
    # ids never become labels: every task route is one series
    assert bob.get("/sdapi/v1/tasks/nope-1").status_code == 404
    assert bob.get("/sdapi/v1/tasks/nope-2").status_code == 404
    routes = {dict(k[1]).get("route") for k in scrape(bob) if k[0] == "easel_http_requests_total"}
    assert not any("nope" in (r or "") for r in routes)


def test_webhook_failures_are_counted(bob):
    before = value(scrape(bob), "easel_webhook_failures_total", final="true")
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: the one attempt fails
    response = bob.post("/sdapi/v1/txt2img", json={**SMALL, "seed": -1, "webhook_url": closed}, headers=ASYNC)
    assert response.status_code in (200, 202), response.text
    wait_for(lambda: value(scrape(bob), "easel_webhook_failures_total", final="true") == before + 1, timeout=120)


def test_metrics_need_credentials_when_auth_is_on(cluster_server):
    with cluster_server.client() as anonymous:
        assert anonymous.get("/metrics").status_code == 401
