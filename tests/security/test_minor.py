"""Issue 18 item 11: X-Task-Id on managed-service answers, dot-only task ids, the documented flags exist, webhook
delivery pinned to the checked address, a cancelled managed-service task reported as such."""
from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.security.conftest import SMALL, TOKEN
from tests.support import ROOT, wait_for


def test_managed_answers_carry_x_task_id(api):
    ok = api.post("/sdapi/v1/txt2img", json={**SMALL, "alwayson_scripts": {"id_task": "managed-header-1"}})
    assert ok.status_code == 200 and ok.headers["X-Task-Id"] == "managed-header-1"
    failed = api.post("/sdapi/v1/txt2img", json={**SMALL, "alwayson_scripts": {"id_task": "managed-header-2",
                                                                               "sd_model_checkpoint": "nope"}})
    assert failed.status_code == 404 and failed.headers["X-Task-Id"] == "managed-header-2"


@pytest.mark.parametrize("task_id", ["..", ".", "...", "a/../b", "/"])
def test_dot_task_ids_are_refused_before_generating(api, task_id):
    before = len(api.get("/sdapi/v1/tasks", params={"limit": 500}).json())
    for body, params in (({**SMALL, "force_task_id": task_id}, {}), (SMALL, {"task_id": task_id}),
                         ({**SMALL, "alwayson_scripts": {"id_task": task_id}}, {})):
        response = api.post("/sdapi/v1/txt2img", json=body, params=params)
        assert response.status_code == 422, (body, params, response.text)
    assert len(api.get("/sdapi/v1/tasks", params={"limit": 500}).json()) == before


def test_the_flags_the_docs_name_exist():
    from modules.cmd_args import full_parser

    parser, _ = full_parser([], ROOT)  # Easel's flags, the extensions' and the accepted A1111 ones
    known = {option for action in parser._actions for option in action.option_strings}
    for doc in ("docs/eas.md", "docs/security.md", "docs/tasks.md", "docs/compatibility.md"):
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", (ROOT / doc).read_text()))
        assert named and named <= known, (doc, named - known)
    eas = (ROOT / "docs" / "eas.md").read_text()
    assert "--api-allow-local-requests" in eas


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def log_message(self, *_args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        _Recorder.hits.append(self.headers.get("Host", ""))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()


def test_webhook_delivery_is_pinned_to_the_checked_address(monkeypatch, tmp_path: Path):
    """DNS rebinding: the name resolves to a public address when checked, then to loopback. The delivery must go to
    the checked address (here: unreachable), never to the loopback server."""
    from modules.tasks.common import TaskStatus
    from modules.tasks.store_base import TaskRecord
    from modules.tasks.store_sqlite import SqliteTaskStore
    from modules.tasks.webhooks import WebhookDispatcher

    local = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=local.serve_forever, daemon=True).start()
    port = local.server_address[1]
    real = socket.getaddrinfo
    answers = iter(["203.0.113.7"] + ["127.0.0.1"] * 20)

    def rebinding(host, *args, **kwargs):
        if host == "rebind.example":
            address = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr("ipaddress.IPv4Address.is_global", property(lambda self: str(self) == "203.0.113.7"))
    store = SqliteTaskStore(tmp_path / "tasks.sqlite3")
    store.create(TaskRecord(id="hooked", kind="txt2img", status=TaskStatus.SUCCEEDED,
                            webhook_url=f"http://rebind.example:{port}/hook"))
    dispatcher = WebhookDispatcher(store, b"k", payload=lambda record: {"id": record.id}, max_attempts=1,
                                   timeout=0.5)
    try:
        dispatcher._attempt("hooked")
        attempts = store.get("hooked").webhook["attempts"]
        assert len(attempts) == 1 and attempts[0]["status_code"] is None  # the checked address did not answer
        assert _Recorder.hits == []
    finally:
        local.shutdown()
        store.close()


def test_a_cancelled_managed_task_reports_a_failure_status(api, secure_server):
    task_id = "managed-cancel-1"
    result: dict = {}
    body = {**SMALL, "steps": 150, "width": 256, "height": 256, "alwayson_scripts": {"id_task": task_id}}

    def call() -> None:
        with secure_server.client(headers={"Token": TOKEN}, auth=api.auth) as client:
            result["response"] = client.post("/sdapi/v1/txt2img", json=body)

    thread = threading.Thread(target=call)
    thread.start()
    wait_for(lambda: (r := api.get(f"/sdapi/v1/tasks/{task_id}")).status_code == 200
             and r.json()["status"] == "running", timeout=120)
    assert api.post(f"/sdapi/v1/tasks/{task_id}/cancel").status_code == 200
    thread.join(timeout=120)
    response = result["response"]
    assert response.status_code == 409, response.text
    parameters = response.json()["parameters"]
    assert parameters["status"] == 409 and "cancelled" in parameters["error_msg"]
