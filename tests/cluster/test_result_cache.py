"""--result-cache: an identical fixed-seed request of the same user reuses the stored result."""
from __future__ import annotations

import json

from tests.cluster.helpers import SMALL, scrape, value


def _run(client, body) -> tuple[str, dict]:
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    return data["images"][0], json.loads(data["info"])


def test_identical_request_is_a_hit_per_user(cluster_server, alice, bob):
    body = {**SMALL, "prompt": "a cached harbour", "seed": 1234}
    before = scrape(alice)
    first, first_info = _run(alice, body)
    second, second_info = _run(alice, body)
    assert "result_cache" not in first_info
    assert second_info["result_cache"]["hit"] is True
    assert second == first and second_info["infotexts"] == first_info["infotexts"]
    after = scrape(alice)
    assert value(after, "easel_result_cache_lookups_total", result="hit") == \
        value(before, "easel_result_cache_lookups_total", result="hit") + 1
    assert value(after, "easel_result_cache_lookups_total", result="miss") == \
        value(before, "easel_result_cache_lookups_total", result="miss") + 1
    hit_task = second_info["result_cache"]["task_id"]
    rows = alice.get("/internal/usage", params={"tasks": "true", "user": "alice"}).json()["tasks"]
    hits = [r for r in rows if r["cache_hit"]]
    assert hits and all(r["task_id"] != hit_task for r in hits) and hits[-1]["images"] == 1

    _, bob_info = _run(bob, body)  # per user: bob's identical request runs
    assert "result_cache" not in bob_info
    _, changed = _run(alice, {**body, "steps": 3})  # any parameter changes the key
    assert "result_cache" not in changed


def test_random_seeds_never_hit(alice):
    body = {**SMALL, "prompt": "a random harbour", "seed": -1}
    _run(alice, body)
    _, info = _run(alice, body)
    assert "result_cache" not in info
    variation = {**SMALL, "prompt": "a varied harbour", "seed": 7, "subseed": -1, "subseed_strength": 0.5}
    _run(alice, variation)
    _, info = _run(alice, variation)
    assert "result_cache" not in info


def test_off_by_default(api):
    body = {**SMALL, "prompt": "an uncached harbour", "seed": 99}
    infos = [json.loads(api.post("/sdapi/v1/txt2img", json=body).json()["info"]) for _ in range(2)]
    assert all("result_cache" not in info for info in infos)
