"""The worker: FIFO with concurrent callers, live progress, interrupt and skip mid-run."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

from tests.support import wait_for

LONG = {"prompt": "a cat", "width": 64, "height": 64, "seed": 77, "steps": 150, "sampler_name": "Euler"}


def test_eight_concurrent_requests_all_succeed(api_server):
    def one(i: int) -> tuple[int, list[int]]:
        with api_server.client() as client:
            response = client.post("/sdapi/v1/txt2img", json={"prompt": f"p{i}", "steps": 3, "width": 64,
                                                              "height": 64, "seed": i})
            return response.status_code, json.loads(response.json()["info"])["all_seeds"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert [status for status, _ in results] == [200] * 8
    assert [seeds for _, seeds in results] == [[i] for i in range(8)]


def _start_in_background(api_server, body):
    result = {}

    def run():
        with api_server.client(timeout=300) as client:
            result["response"] = client.post("/sdapi/v1/txt2img", json=body)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def _progress(api):
    return api.get("/sdapi/v1/progress").json()


def test_progress_has_a1111_shape_and_live_preview_then_interrupt(api_server, api):
    idle = _progress(api)
    assert set(idle) == {"progress", "eta_relative", "state", "current_image", "textinfo"}
    assert {"skipped", "interrupted", "stopping_generation", "job", "job_count", "job_timestamp", "job_no",
            "sampling_step", "sampling_steps"} <= set(idle["state"])
    thread, result = _start_in_background(api_server, LONG)
    running = wait_for(lambda: (p := _progress(api))["state"]["sampling_step"] >= 2 and p)
    assert running["state"]["sampling_steps"] == 150
    assert running["state"]["job_count"] == 1
    assert 0 < running["progress"] < 1
    assert running["current_image"]
    assert api.post("/sdapi/v1/interrupt").status_code == 200
    thread.join(60)
    response = result["response"]
    assert response.status_code == 200
    partial = response.json()["images"][0]
    with api_server.client() as client:
        full = client.post("/sdapi/v1/txt2img", json={**LONG, "steps": 150}, timeout=300)
    assert full.status_code == 200
    assert partial != full.json()["images"][0]
    assert _progress(api)["state"]["job_count"] == 0


def test_skip_ends_the_current_batch_only(api_server, api):
    body = {**LONG, "n_iter": 2, "steps": 60}
    thread, result = _start_in_background(api_server, body)
    wait_for(lambda: (s := _progress(api)["state"])["sampling_step"] >= 2 and s["job_no"] == 0)
    assert api.post("/sdapi/v1/skip").status_code == 200
    thread.join(120)
    data = result["response"].json()
    assert result["response"].status_code == 200
    assert len(data["images"]) == 2
    second_alone = api.post("/sdapi/v1/txt2img", json={**body, "n_iter": 1, "seed": 78}).json()["images"][0]
    assert data["images"][1] == second_alone
