from __future__ import annotations

import pytest

from tests.support import EaselServer, make_data_dir
from tests.tasks.helpers import LINK_SECRET, WEBHOOK_SECRET


@pytest.fixture(scope="package")
def task_server(tmp_path_factory):
    """One server for the task tests: small queue, fast webhook retries, known secrets."""
    data_dir = make_data_dir(tmp_path_factory.mktemp("tasks"), {"tiny-a.safetensors": 0})
    server = EaselServer(data_dir, "--ckpt", "tiny-a", "--queue-size", "3", "--webhook-allow-private",
                         "--webhook-backoff", "0.2", "--webhook-retries", "4", "--webhook-secret", WEBHOOK_SECRET,
                         "--link-secret", LINK_SECRET).start()
    yield server
    server.stop()


@pytest.fixture()
def client(task_server):
    with task_server.client() as c:
        yield c
