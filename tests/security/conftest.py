"""One hardened server shared by most security tests: the WebUI with --gradio-auth, --api-auth and --api-token.

Tests that stop, kill or reconfigure a server start their own (test_restart.py, test_graceful_stop.py,
test_fuzz.py). `outside` is a sentinel folder next to the data dir: a write escape would put something there.
"""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support import EaselServer, make_data_dir

BASIC = ("admin", "basic-s3cret")
TOKEN = "token-s3cret"
UI_LOGIN = ("designer", "ui-s3cret")
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
SMALL = {"prompt": "a", "steps": 2, "width": 64, "height": 64, "seed": 1}


@pytest.fixture(scope="session")
def outside(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("outside-sentinel")


@pytest.fixture(scope="session")
def secure_server(tmp_path_factory, outside):
    data = make_data_dir(tmp_path_factory.mktemp("secure-data"), {"tiny-a.safetensors": 0, "tiny-b.safetensors": 1})
    server = EaselServer(data, "--api-auth", ":".join(BASIC), "--api-token", TOKEN, "--gradio-auth",
                         ":".join(UI_LOGIN), "--ckpt", "tiny-a", webui=True, env=ONE_THREAD).start(timeout=300)
    server.outside = outside
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def api(secure_server):
    """Full API credentials: the token header plus HTTP Basic."""
    with secure_server.client(headers={"Token": TOKEN}, auth=BASIC) as client:
        yield client


def raw_json(client: httpx.Client, path: str, text: str) -> httpx.Response:
    """POST a body exactly as written (NaN, surrogate escapes, deep nesting: what json.dumps would not send)."""
    return client.post(path, content=text.encode("utf-8"), headers={"Content-Type": "application/json"})


def error_text(response: httpx.Response) -> str:
    try:
        return json.dumps(response.json())
    except ValueError:
        return response.text


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
