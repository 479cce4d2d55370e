from __future__ import annotations

import pytest

from tests.inprocess import InProcessServer
from tests.support import make_data_dir

USERS = {"alice": "pw-alice", "bob": "pw-bob"}


@pytest.fixture(scope="package")
def cluster_server(tmp_path_factory):
    """Two API users, the result cache on, the model loaded by the first task (so its load is charged), webhooks
    to loopback allowed and given up after one attempt."""
    data_dir = make_data_dir(tmp_path_factory.mktemp("cluster"), {"tiny-a.safetensors": 0})
    server = InProcessServer(data_dir, "--ckpt", "tiny-a", "--api-auth", ",".join(f"{u}:{p}" for u, p in USERS.items()),
                             "--skip-load-model-at-start", "--result-cache", "--webhook-allow-private",
                             "--webhook-retries", "1").start()
    yield server
    server.stop()


@pytest.fixture()
def alice(cluster_server):
    with cluster_server.client(auth=("alice", USERS["alice"])) as client:
        yield client


@pytest.fixture()
def bob(cluster_server):
    with cluster_server.client(auth=("bob", USERS["bob"])) as client:
        yield client
