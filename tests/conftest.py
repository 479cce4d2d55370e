from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.inprocess import InProcessServer  # noqa: E402
from tests.redis_support import RedisServer  # noqa: E402
from tests.support import make_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def api_server(tmp_path_factory):
    """One shared in-process API (the real app over ASGI) over two tiny checkpoints; tests must not change its
    persistent options."""
    data_dir = make_data_dir(tmp_path_factory.mktemp("data"), {"tiny-a.safetensors": 0, "sub/tiny-b.safetensors": 1})
    server = InProcessServer(data_dir, "--ckpt", "tiny-a").start()
    yield server
    server.stop()


@pytest.fixture()
def api(api_server):
    with api_server.client() as client:
        yield client


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One redis-server for the session; tests keep apart by key prefix (or flush it themselves)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()
