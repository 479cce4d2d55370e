"""One Redis, 2 API processes that only enqueue, 2 worker processes: every task feature across processes."""
from __future__ import annotations

import base64

import httpx

from tests.scaleout.cluster import OTHER, start_all
from tests.support import wait_for
from tests.tasks.helpers import (
    ASYNC,
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


def _alternate(client, rounds: int, seed: int) -> None:
    """Rounds of one tiny-a and one tiny-b task, submitted together; each round ends before the next."""
    for r in range(rounds):
        ids = [submit_async(client, {**SMALL, "seed": seed + r, "override_settings": {"sd_model_checkpoint": name}})
               for name in ("tiny-a", "tiny-b")]
        for task_id in ids:
            assert wait_status(client, task_id)["status"] == "succeeded"


def test_two_checkpoints_alternating_over_two_workers_load_nothing_after_warm_up(cluster):
    with cluster.client() as client:
        _alternate(client, 2, seed=100)  # warm-up: one worker ends up holding each checkpoint
        before = cluster.loads()
        _alternate(client, 4, seed=200)
        assert cluster.loads() == before
        held = sorted(m for w in client.get("/internal/workers").json()["workers"] for m in w["models"])
        assert [m.split()[0] for m in held] == ["tiny-a.safetensors", "tiny-b.safetensors"]


def test_fair_share_one_users_twenty_tasks_do_not_starve_another_users_one(cluster):
    with cluster.client() as ann, cluster.client(api=1, auth=OTHER) as bob:
        queued = [submit_async(ann, {**SMALL, "seed": 300 + i}) for i in range(20)]
        mine = submit_async(bob, {**SMALL, "seed": 400})
        record = wait_status(bob, mine)
        assert record["status"] == "succeeded"
        starts = [wait_status(ann, t)["started_at"] for t in queued]
        overtook = [s for s in starts if record["created_at"] < s < record["started_at"]]
        assert len(overtook) <= 1  # bob's task started within the next two starts after it was queued
        assert task(bob, mine)["user"] == "bob" and bob.get(f"/sdapi/v1/tasks/{queued[0]}").status_code == 404


def test_priority_high_goes_first_across_processes(cluster):
    with cluster.client() as client, cluster.client(api=1) as other:
        blockers = [submit_async(client, {**LONG, "seed": 500 + i}) for i in range(2)]
        for task_id in blockers:
            wait_running(client, task_id)
        low = submit_async(client, {**SMALL, "priority": "low"})
        normal = submit_async(other, SMALL)
        high = submit_async(other, {**SMALL, "priority": "high"})
        assert [other.get("/sdapi/v1/progress", params={"task_id": t}).json()["textinfo"] for t in (high, normal, low)] \
            == ["In queue: position 1", "In queue: position 2", "In queue: position 3"]
        for task_id in blockers:
            client.post(f"/sdapi/v1/tasks/{task_id}/cancel")
        started = {t: wait_status(client, t)["started_at"] for t in (high, normal, low)}
        assert started[high] < started[normal] < started[low]
        bad = client.post("/sdapi/v1/txt2img", json={**SMALL, "priority": "urgent"}, headers=ASYNC)
        assert bad.status_code == 422 and "priority" in bad.text


def test_queue_bound_holds_across_api_processes(cluster):
    with cluster.client() as client, cluster.client(api=1) as other:
        assert client.post("/batch_update_sd_resource", json={"queueSize": 3}).status_code == 200
        try:
            wait_for(lambda: other.get("/internal/workers").json()["queue"]["max_waiting"] == 3)
            longer = {**LONG, "n_iter": 4}  # they must still run when the test cancels them, on a busy machine too
            running = [submit_async(client, {**longer, "seed": 600 + i}) for i in range(2)]
            for task_id in running:
                wait_running(client, task_id)
            waiting = [submit_async(c, {**longer, "seed": 610 + i}) for i, c in enumerate((client, other, client))]
            full = other.post("/sdapi/v1/txt2img", json=LONG, headers=ASYNC)
            assert full.status_code == 429 and int(full.headers["Retry-After"]) >= 1
        finally:
            client.post("/batch_update_sd_resource", json={"queueSize": 64})
        for task_id in running + waiting:
            other.post(f"/sdapi/v1/tasks/{task_id}/cancel")
        for task_id in running + waiting:
            assert wait_status(client, task_id)["status"] == "cancelled"


def test_idempotency_key_holds_across_api_processes(cluster):
    key = {"Idempotency-Key": "scale-out-once"}
    with cluster.client() as client, cluster.client(api=1) as other:
        first = submit_async(client, SMALL, headers=key)
        assert submit_async(other, SMALL, headers=key) == first
        sync = other.post("/sdapi/v1/txt2img", json=SMALL, headers=key)  # answered from the stored result
        assert sync.status_code == 200 and sync.headers["X-Task-Id"] == first


def test_serverless_routes_and_functions_list_the_cluster(cluster):
    with cluster.client(api=1) as client:
        answer = client.post("/txt2img", json={**SMALL, "stable_diffusion_model": "tiny-b"})
        assert answer.status_code == 200, answer.text
        result = client.get(f"/tasks/{answer.json()['taskId']}/result").json()
        assert result["status"] == "succeeded" and client.get(result["ossUrl"][0]).status_code == 200
        functions = client.get("/list/sdapi/functions").json()["functions"]
        assert len(functions) == 2 and all(f["device"] == "cpu" and f["alive"] for f in functions)
        assert {f["functionName"] for f in functions} == {w["name"] for w in
                                                         client.get("/internal/workers").json()["workers"]}
        memory = client.get("/sdapi/v1/memory").json()["easel"]["workers"]
        assert len(memory) == 2 and all("models" in w and "free_memory" in w for w in memory)


def test_workers_route_needs_credentials(cluster):
    assert httpx.get(cluster.apis[0].url + "/internal/workers").status_code == 401


def _watch(client, **params) -> list[dict]:
    with client.stream("GET", "/sdapi/v1/results/watch", params=params) as stream:
        return [data for name, data in read_sse(stream) if name == "result"]


def test_result_subscription_commit_and_redelivery_across_api_processes(cluster):
    with cluster.client() as client, cluster.client(api=1) as other:
        start = client.get("/sdapi/v1/results", params={"index": 10**9}).json()["last_index"] + 1
        ids = [submit_async(client, {**SMALL, "seed": 700 + i}) for i in range(3)]
        for task_id in ids:
            wait_status(client, task_id)
        first = _watch(other, index=start, window=2, consumer="sub-cluster", timeout=2)
        assert len(first) == 2 and {i["task_id"] for i in first} < set(ids)
        again = _watch(client, index=start, window=2, consumer="sub-cluster", timeout=2)  # not committed: redelivered
        assert [i["index"] for i in again] == [i["index"] for i in first]
        committed = other.post("/sdapi/v1/results/commit", json={"consumer": "sub-cluster",
                                                                 "indexes": [first[0]["index"]]})
        assert committed.json()["committed"] == 1
        moved = _watch(client, index=start, window=5, consumer="sub-cluster", timeout=2)
        assert sorted(i["task_id"] for i in moved) == sorted(set(ids) - {first[0]["task_id"]})


def test_worker_port_serves_health_and_metrics_only(cluster):
    worker = cluster.workers[0]
    assert httpx.get(worker.url + "/internal/ping").json() == {}
    health = httpx.get(worker.url + "/internal/health").json()
    assert health["ok"] and [w["name"] for w in health["announced"]] == [w["name"] for w in health["workers"]]
    assert health["announced"][0]["pid"] == worker.proc.pid and health["announced"][0]["device"] == "cpu"
    metrics = httpx.get(worker.url + "/metrics").text
    assert 'easel_worker_tasks_total{status="succeeded"}' in metrics and "easel_queue_waiting" in metrics
    for path in ("/sdapi/v1/txt2img", "/sdapi/v1/options", "/"):  # no public API, no WebUI
        assert httpx.get(worker.url + path).status_code == 404


def test_a_task_a_worker_refuses_becomes_a_dead_letter(cluster):
    broken = cluster.data_dir / "models" / "Stable-diffusion" / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint" * 100)
    with cluster.client() as client:
        client.post("/sdapi/v1/refresh-checkpoints")  # this API process sees the new file; the workers look on a miss
        task_id = submit_async(client, {**SMALL, "override_settings": {"sd_model_checkpoint": "broken"}})
        failed = wait_status(client, task_id)
        assert failed["status"] == "failed" and failed["runs"] == 1 and "broken.safetensors" in failed["error"]
        letters = client.get("/sdapi/v1/dead-letters").json()
        assert letters[0]["task_id"] == task_id and letters[0]["error_code"] == 422 and letters[0]["deliveries"] == 1
        assert client.get("/internal/workers").json()["queue"]["dead_letters"] >= 1
    broken.unlink()


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
