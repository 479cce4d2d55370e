"""Cancellation (waiting and running), /interrupt, per-task progress, the bounded queue and idempotency."""
from __future__ import annotations

from tests.tasks.helpers import ASYNC, LONG, SMALL, submit_async, task, wait_running, wait_status


def test_cancel_waiting_running_and_interrupt(client):
    running = submit_async(client, LONG)
    waiting = submit_async(client, {**SMALL, "seed": 11})
    wait_running(client, running)
    # per-task progress: the waiting task does not read the running one's
    progress = client.get("/sdapi/v1/progress", params={"task_id": waiting, "skip_current_image": True}).json()
    assert progress["status"] == "waiting" and progress["progress"] == 0.0
    assert client.get("/sdapi/v1/progress", params={"task_id": running}).json()["state"]["sampling_step"] >= 1
    # a waiting task is cancelled at once and never runs
    cancelled = client.post(f"/sdapi/v1/tasks/{waiting}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["started_at"] is None
    # /interrupt stops the running task only: a task queued behind it still runs
    behind = submit_async(client, {**SMALL, "seed": 12})
    assert client.post("/sdapi/v1/interrupt").status_code == 200
    stopped = wait_status(client, running)
    assert stopped["status"] == "cancelled"
    assert stopped["progress_state"].get("sampling_step", 0) < 150
    assert wait_status(client, behind)["status"] == "succeeded"
    assert task(client, waiting)["runs"] == 0
    # cancelling a running task through the task route
    second = submit_async(client, LONG)
    wait_running(client, second)
    client.post(f"/sdapi/v1/tasks/{second}/cancel")
    assert wait_status(client, second)["status"] == "cancelled"
    assert client.post("/sdapi/v1/tasks/nope/cancel").status_code == 404


def test_full_queue_is_429_with_retry_after(client):
    running = submit_async(client, LONG)
    wait_running(client, running, min_step=0)
    queued = [submit_async(client, {**SMALL, "seed": 20 + i}) for i in range(3)]
    response = client.post("/sdapi/v1/txt2img", json=SMALL, headers=ASYNC)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"] == "QueueFullError"
    sync = client.post("/sdapi/v1/txt2img", json=SMALL)
    assert sync.status_code == 429 and "retry-after" in sync.headers
    for task_id in [*queued, running]:
        client.post(f"/sdapi/v1/tasks/{task_id}/cancel")
    for task_id in [*queued, running]:
        assert wait_status(client, task_id)["status"] == "cancelled"


def test_idempotency_key_returns_the_same_task(client):
    headers = {**ASYNC, "Idempotency-Key": "order-42"}
    first = client.post("/sdapi/v1/txt2img", json={**SMALL, "seed": 42}, headers=headers).json()
    second = client.post("/sdapi/v1/txt2img", json={**SMALL, "seed": 43}, headers=headers).json()
    assert first["task_id"] == second["task_id"]
    wait_status(client, first["task_id"])
    sync = client.post("/sdapi/v1/txt2img", json={**SMALL, "seed": 44}, headers={"Idempotency-Key": "order-42"})
    assert sync.status_code == 200 and sync.headers["x-task-id"] == first["task_id"]
    assert '"all_seeds": [42]' in sync.json()["info"].replace('"all_seeds":[42]', '"all_seeds": [42]')
    other = client.post("/sdapi/v1/txt2img", json=SMALL, headers={**ASYNC, "Idempotency-Key": "order-43"}).json()
    assert other["task_id"] != first["task_id"]
    wait_status(client, other["task_id"])
