"""Shared by the task and serverless tests: bounded waits, small bodies, a webhook receiver, SSE reading."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.support import wait_for

SMALL = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 5, "sampler_name": "Euler"}
LONG = {**SMALL, "steps": 150}
WEBHOOK_SECRET = "test-webhook-secret"
LINK_SECRET = "test-link-secret"
ASYNC = {"Request-Type": "async"}


def task(client: httpx.Client, task_id: str) -> dict:
    response = client.get(f"/sdapi/v1/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_status(client: httpx.Client, task_id: str, *statuses: str, timeout: float = 120.0) -> dict:
    wanted = statuses or ("succeeded", "failed", "cancelled")
    return wait_for(lambda: (t := task(client, task_id))["status"] in wanted and t, timeout=timeout)


def wait_running(client: httpx.Client, task_id: str, min_step: int = 1) -> dict:
    return wait_for(lambda: (t := task(client, task_id))["status"] == "running"
                    and t["progress_state"].get("sampling_step", 0) >= min_step and t)


def submit_async(client: httpx.Client, body: dict, **kwargs) -> str:
    response = client.post("/sdapi/v1/txt2img", json=body, headers={**ASYNC, **kwargs.pop("headers", {})}, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def read_sse(response: httpx.Response, stop_after: str | None = None, limit: int = 1000) -> list[tuple[str, dict]]:
    """(event, data) pairs of an SSE response, until it ends, `stop_after` is seen or `limit` events."""
    events, name, data = [], None, []
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and name:
            events.append((name, json.loads("\n".join(data))))
            if name == stop_after or len(events) >= limit:
                break
            name, data = None, []
    return events


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that answers 500 to the first `failures` POSTs, then 200."""

    def __init__(self, failures: int = 0):
        self.failures = failures
        self.calls: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.calls.append({"headers": dict(self.headers), "body": body, "at": time.time()})
                code = 500 if len(receiver.calls) <= receiver.failures else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
