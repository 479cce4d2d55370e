"""Tasks of one user are invisible to another (404, not 403), admins see every task; every submission route
records the authenticated user; the per-user waiting limit answers 429 naming it."""
from __future__ import annotations

import base64
import io

from PIL import Image

from tests.support import wait_for
from tests.users.conftest import SMALL, client_for

ASYNC = {"Request-Type": "async"}


def _png_b64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "gray").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _finished(client, task_id: str) -> dict:
    return wait_for(lambda: (t := client.get(f"/sdapi/v1/tasks/{task_id}").json())["status"] in
                    ("succeeded", "failed", "cancelled") and t)


def test_another_users_task_answers_404_everywhere(users_server, alice, bob, root):
    submitted = alice.post("/sdapi/v1/txt2img", json=SMALL, headers=ASYNC)
    assert submitted.status_code == 200, submitted.text
    task_id = submitted.json()["task_id"]
    task = _finished(alice, task_id)
    assert task["status"] == "succeeded"
    assert users_server.services.task_store.get(task_id).user == "alice"
    for method, path in (("GET", f"/sdapi/v1/tasks/{task_id}"), ("GET", f"/sdapi/v1/tasks/{task_id}/events"),
                         ("POST", f"/sdapi/v1/tasks/{task_id}/cancel"), ("GET", f"/tasks/{task_id}/progress"),
                         ("GET", f"/tasks/{task_id}/result"), ("POST", f"/tasks/{task_id}/cancellation"),
                         ("GET", f"/sdapi/v1/progress?task_id={task_id}")):
        hidden = bob.request(method, path)
        assert hidden.status_code == 404, (path, hidden.status_code)
        assert task_id in hidden.text
        assert alice.request(method, path).status_code in (200, 409), path
    assert task_id not in [t["task_id"] for t in bob.get("/sdapi/v1/tasks").json()]
    assert task_id in [t["task_id"] for t in alice.get("/sdapi/v1/tasks").json()]
    assert task_id not in str(bob.get("/sdapi/v1/results", params={"length": 500}).json())
    assert task_id in str(alice.get("/sdapi/v1/results", params={"length": 500}).json())
    # the WebUI's progress route treats it as unknown
    assert bob.post("/internal/progress", json={"id_task": task_id}).json()["completed"] is False
    # an admin sees every task
    assert root.get(f"/sdapi/v1/tasks/{task_id}").status_code == 200
    assert task_id in [t["task_id"] for t in root.get("/sdapi/v1/tasks", params={"limit": 500}).json()]


def test_every_submission_route_records_the_caller(users_server, bob, root):
    store = users_server.services.task_store
    serverless = bob.post("/txt2img", json={**SMALL, "stable_diffusion_model": "tiny-a"}, headers=ASYNC)
    assert serverless.status_code == 200, serverless.text
    extras = bob.post("/sdapi/v1/extra-single-image", json={"image": _png_b64(), "upscaling_resize": 1})
    assert extras.status_code == 200, extras.text
    img2img = bob.post("/sdapi/v1/img2img", json={**SMALL, "init_images": [_png_b64()]}, headers=ASYNC)
    assert img2img.status_code == 200, img2img.text
    # the managed service: an admin's request carrying `uid` belongs to that user
    managed = root.post("/sdapi/v1/txt2img", json={**SMALL, "alwayson_scripts": {"uid": "bob"}})
    assert managed.status_code == 200, managed.text
    managed_id = managed.json()["parameters"]["id_task"]
    for task_id in (serverless.json()["taskId"], img2img.json()["task_id"], managed_id):
        assert store.get(task_id).user == "bob", task_id
    assert bob.get(f"/sdapi/v1/tasks/{managed_id}").status_code == 200
    extras_tasks = [r for r in store.list(user="bob") if r.kind == "extras"]
    assert extras_tasks, "the extras call is a task of bob's"
    # a non-admin's uid is only a folder name: the task stays the caller's
    with client_for(users_server, "alice") as alice:
        own = alice.post("/sdapi/v1/txt2img", json={**SMALL, "alwayson_scripts": {"uid": "bob"}})
        assert own.status_code == 200, own.text
        assert store.get(own.json()["parameters"]["id_task"]).user == "alice"


def test_waiting_limit_is_a_429_naming_it(users_server):
    with client_for(users_server, "held") as held:  # max_waiting_tasks 2, max_running_jobs 0
        ids = []
        for _ in range(2):
            answer = held.post("/sdapi/v1/txt2img", json=SMALL, headers=ASYNC)
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["task_id"])
        refused = held.post("/sdapi/v1/txt2img", json=SMALL, headers=ASYNC)
        assert refused.status_code == 429
        assert "max_waiting_tasks" in refused.json()["detail"] and "2" in refused.json()["detail"]
        assert int(refused.headers["Retry-After"]) >= 1
        assert users_server.services.task_store.get(ids[0]).priority == "low"  # the user's default priority
        for task_id in ids:
            assert held.post(f"/sdapi/v1/tasks/{task_id}/cancel").status_code == 200
        assert held.post("/sdapi/v1/txt2img", json=SMALL, headers=ASYNC).status_code == 200  # room again
        for task in held.get("/sdapi/v1/tasks", params={"status": "waiting"}).json():
            held.post(f"/sdapi/v1/tasks/{task['task_id']}/cancel")


def test_fair_share_between_users(alice, bob):
    """alice queues 6 tasks, then bob one: bob's starts before alice's remaining ones (within the next two)."""
    alice_ids = [alice.post("/sdapi/v1/txt2img", json={**SMALL, "steps": 4}, headers=ASYNC).json()["task_id"]
                 for _ in range(6)]
    answer = bob.post("/sdapi/v1/txt2img", json=SMALL, headers=ASYNC).json()
    assert answer["queue_length"] >= 3, "alice's tasks should still be waiting when bob submits"
    bob_task = _finished(bob, answer["task_id"])
    alice_tasks = [_finished(alice, task_id) for task_id in alice_ids]
    started_after = sorted([t for t in alice_tasks if t["started_at"] > bob_task["created_at"]] + [bob_task],
                           key=lambda t: t["started_at"])
    assert [t["task_id"] for t in started_after].index(bob_task["task_id"]) <= 1


def test_a_request_priority_lowers_a_users_default_and_raises_it_only_for_an_admin(users_server):
    store = users_server.services.task_store
    with client_for(users_server, "held") as held, client_for(users_server, "root") as root:  # held: default low
        asked_high = held.post("/sdapi/v1/txt2img", json={**SMALL, "priority": "high"}, headers=ASYNC)
        assert asked_high.status_code == 200, asked_high.text
        admin_high = root.post("/sdapi/v1/txt2img", json={**SMALL, "priority": "high", "steps": 1}, headers=ASYNC)
        assert admin_high.status_code == 200, admin_high.text
        assert store.get(asked_high.json()["task_id"]).priority == "low"
        assert store.get(admin_high.json()["task_id"]).priority == "high"
        assert held.post(f"/sdapi/v1/tasks/{asked_high.json()['task_id']}/cancel").status_code == 200
