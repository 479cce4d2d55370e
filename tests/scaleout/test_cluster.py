"""One Redis, 2 API processes that only enqueue, 2 worker processes: every task feature across processes."""
from __future__ import annotations

import base64

from tests.scaleout.cluster import start_all
from tests.support import wait_for
from tests.tasks.helpers import (
    LONG,
    SMALL,
    WebhookReceiver,
    read_sse,
    submit_async,
    task,
    wait_running,
    wait_status,
)


def test_sync_call_on_one_api_runs_on_a_worker(cluster):
    with cluster.client() as client:
        response = client.post("/sdapi/v1/txt2img", json=SMALL)
        assert response.status_code == 200, response.text
        assert base64.b64decode(response.json()["images"][0]).startswith(b"\x89PNG")
        task_id = response.headers["X-Task-Id"]
    with cluster.client(api=1) as other:  # the other API process reads the same record and the stored image
        record = task(other, task_id)
        assert record["status"] == "succeeded" and record["runs"] == 1
        assert other.get(record["urls"][0]).content.startswith(b"\x89PNG")


def test_async_task_sse_and_progress_across_processes(cluster):
    with cluster.client() as client, cluster.client(api=1) as other:
        task_id = submit_async(client, {**SMALL, "steps": 40})
        with other.stream("GET", f"/sdapi/v1/tasks/{task_id}/events") as stream:
            events = read_sse(stream, stop_after="result")
        assert events[-1][0] == "result" and events[-1][1]["status"] == "succeeded"
        running = [data for name, data in events if name == "progress" and data["status"] == "running"]
        assert running and any(e["state"]["sampling_step"] > 0 for e in running)


def test_live_progress_preview_and_interrupt_of_a_job_in_another_process(cluster):
    with cluster.client() as client, cluster.client(api=1) as other:
        task_id = submit_async(client, LONG)
        wait_running(client, task_id)
        live = wait_for(lambda: (p := other.get("/sdapi/v1/progress", params={"task_id": task_id}).json())
                        ["state"]["sampling_step"] > 0 and p)
        assert live["state"]["job"] == task_id and 0 < live["progress"] < 1
        preview = wait_for(lambda: (p := other.post("/internal/progress", json={"id_task": task_id}).json())
                           ["live_preview"] and p)
        assert preview["active"] and preview["live_preview"].startswith("data:image/png;base64,")
        assert other.post("/sdapi/v1/interrupt").status_code == 200
        done = wait_status(client, task_id)
        assert done["status"] == "cancelled"


def test_skip_and_cancel_reach_other_processes(cluster):
    with cluster.client() as client, cluster.client(api=1) as other:
        running = [submit_async(client, {**LONG, "seed": i}) for i in range(2)]
        waiting = submit_async(client, LONG)
        for task_id in running:
            wait_running(client, task_id)
        assert task(other, waiting)["status"] == "waiting"
        assert other.post(f"/sdapi/v1/tasks/{waiting}/cancel").json()["status"] == "cancelled"
        assert other.post(f"/sdapi/v1/tasks/{running[0]}/cancel").status_code == 200
        assert wait_status(client, running[0])["status"] == "cancelled"
        assert other.post("/sdapi/v1/skip").status_code == 200  # the one running task: its batch ends
        assert wait_status(client, running[1])["status"] == "succeeded"
        assert task(client, waiting)["runs"] == 0  # never started


def test_api_killed_while_tasks_wait_a_restarted_api_serves_their_results(cluster):
    api = cluster.apis[0]
    with cluster.client() as client:
        ids = [submit_async(client, {**SMALL, "steps": 20, "seed": i}) for i in range(4)]
    cluster.kill(api)
    restarted = start_all([cluster.api()])[0]
    cluster.apis[0] = restarted
    with cluster.client() as client:
        for task_id in ids:
            record = wait_status(client, task_id)
            assert record["status"] == "succeeded"
            assert client.get(record["urls"][0]).content.startswith(b"\x89PNG")


def test_a_worker_killed_mid_job_is_taken_over_one_result_one_webhook(cluster):
    with cluster.client() as client, WebhookReceiver() as hook:
        task_id = submit_async(client, {**LONG, "webhook_url": hook.url})
        wait_running(client, task_id)
        victim = cluster.worker_running(client, task_id)
        cluster.kill(victim)
        cluster.workers.remove(victim)  # the last test of the package: the cluster goes on with one worker
        done = wait_status(client, task_id, timeout=180)
        assert done["status"] == "succeeded" and done["runs"] == 2  # run again by the other worker
        wait_for(lambda: task(client, task_id)["webhook"]["state"] == "delivered")
        assert len(hook.calls) == 1 and hook.calls[0]["headers"]["X-Easel-Task-Id"] == task_id
        items = client.get("/sdapi/v1/results", params={"index": 1, "length": 500, "consumer": "takeover"}).json()
        assert [i["task_id"] for i in items["items"]].count(task_id) == 1  # one result-stream entry
