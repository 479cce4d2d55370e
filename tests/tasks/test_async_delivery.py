"""Async submission on /sdapi/v1, polling, the SSE stream, webhooks (signed, retried) and signed links."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

from tests.tasks.helpers import (
    ASYNC,
    LINK_SECRET,
    SMALL,
    WEBHOOK_SECRET,
    WebhookReceiver,
    read_sse,
    submit_async,
    wait_for,
    wait_status,
)


def test_async_submit_poll_and_sse(client):
    response = client.post("/sdapi/v1/txt2img", json=SMALL, headers=ASYNC)
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] in ("waiting", "running") and answer["task_id"] == response.headers["x-task-id"]
    task_id = answer["task_id"]
    with client.stream("GET", f"/sdapi/v1/tasks/{task_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = read_sse(stream, stop_after="result")
    assert events[-1][0] == "result"
    assert {name for name, _ in events[:-1]} <= {"progress"}
    result = events[-1][1]
    assert result["status"] == "succeeded" and len(result["urls"]) == 1
    polled = wait_status(client, task_id)
    assert polled["status"] == "succeeded" and polled["progress"] == 1.0
    assert polled["images"] == [f"tasks/{task_id}/00000.png"]
    assert json.loads(json.dumps(polled["info"]))["all_seeds"] == [5]
    image = client.get(polled["urls"][0])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    # a finished task's SSE stream is one result event
    with client.stream("GET", f"/sdapi/v1/tasks/{task_id}/events") as stream:
        assert [name for name, _ in read_sse(stream)] == ["result"]
    # per-task progress of a finished task
    progress = client.get("/sdapi/v1/progress", params={"task_id": task_id}).json()
    assert progress["progress"] == 1.0 and progress["status"] == "succeeded"


def test_query_async_and_chosen_ids(client):
    response = client.post("/sdapi/v1/txt2img", params={"async": "true", "task_id": "job_001"}, json=SMALL)
    assert response.json()["task_id"] == "job_001"
    forced = client.post("/sdapi/v1/txt2img", json={**SMALL, "force_task_id": "job_002"}, headers=ASYNC).json()
    assert forced["task_id"] == "job_002"
    # (alwayson_scripts.id_task is the managed-service shim's: it turns it into force_task_id)
    via_header = client.post("/sdapi/v1/txt2img", json=SMALL, headers={**ASYNC, "taskId": "job_003"}).json()
    assert via_header["task_id"] == "job_003"
    again = client.post("/sdapi/v1/txt2img", params={"task_id": "job_001"}, json=SMALL, headers=ASYNC)
    assert again.status_code == 409
    bad = client.post("/sdapi/v1/txt2img", params={"task_id": "../etc"}, json=SMALL, headers=ASYNC)
    assert bad.status_code == 422
    for task_id in ("job_001", "job_002", "job_003"):
        assert wait_status(client, task_id)["status"] == "succeeded"


def test_webhook_is_signed_retried_and_recorded(client):
    with WebhookReceiver(failures=2) as receiver:
        task_id = submit_async(client, {**SMALL, "webhook_url": receiver.url})
        record = wait_for(lambda: (t := client.get(f"/sdapi/v1/tasks/{task_id}").json())["webhook"]
                          and t["webhook"].get("state") == "delivered" and t)
    assert len(receiver.calls) == 3
    attempts = record["webhook"]["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    gaps = [b["at"] - a["at"] for a, b in zip(receiver.calls, receiver.calls[1:])]
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39  # exponential backoff: 0.2 s, then 0.4 s
    for call in receiver.calls:
        headers = {k.lower(): v for k, v in call["headers"].items()}
        expected = hmac.new(WEBHOOK_SECRET.encode(), headers["x-easel-timestamp"].encode() + b"." + call["body"],
                            hashlib.sha256).hexdigest()
        assert headers["x-easel-signature"] == f"sha256={expected}"
        assert headers["x-easel-task-id"] == task_id
    payload = json.loads(receiver.calls[-1]["body"])
    assert payload["task_id"] == task_id and payload["status"] == "succeeded"
    assert client.get(payload["urls"][0]).status_code == 200


def test_webhook_to_a_private_address_needs_the_flag_and_bad_urls_are_refused(client):
    response = client.post("/sdapi/v1/txt2img", json={**SMALL, "webhook_url": "ftp://example.com/x"}, headers=ASYNC)
    assert response.status_code == 422 and "webhook_url" in response.json()["errors"]


def _link(path: str, expires: int) -> str:
    signature = hmac.new(LINK_SECRET.encode(), f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{path}?expires={expires}&signature={signature}"


def test_signed_links_tampered_or_expired_are_403(client):
    task_id = submit_async(client, SMALL)
    record = wait_status(client, task_id)
    key = record["images"][0]
    assert client.get(_link(f"/storage/{key}", int(time.time()) + 60)).status_code == 200
    assert client.get(_link(f"/storage/{key}", int(time.time()) - 1)).status_code == 403
    url = record["urls"][0]
    assert client.get(url.replace("00000.png", "00001.png")).status_code == 403
    assert client.get(url.split("&signature=")[0] + "&signature=" + "0" * 64).status_code == 403
    assert client.get(f"/storage/{key}").status_code == 403
    assert client.get(_link("/storage/../secrets.json", int(time.time()) + 60)).status_code in (403, 404)
