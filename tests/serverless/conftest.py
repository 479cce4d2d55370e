from __future__ import annotations

import pytest

from tests.support import EaselServer, make_data_dir


@pytest.fixture(scope="package")
def sls_server(tmp_path_factory):
    """One server for the serverless API tests, over two tiny checkpoints."""
    data_dir = make_data_dir(tmp_path_factory.mktemp("serverless"), {"tiny-a.safetensors": 0, "tiny-b.safetensors": 1})
    server = EaselServer(data_dir, "--ckpt", "tiny-a", "--queue-size", "4").start()
    yield server
    server.stop()


@pytest.fixture()
def client(sls_server):
    with sls_server.client() as c:
        yield c
