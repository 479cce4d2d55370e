from __future__ import annotations

import pytest

from tests.scaleout.cluster import Cluster
from tests.support import make_data_dir


@pytest.fixture(scope="package")
def cluster(tmp_path_factory, redis_server):
    """2 API processes (--no-worker, a users file: admin ann, user bob) and 2 worker processes on one Redis."""
    data_dir = make_data_dir(tmp_path_factory.mktemp("cluster"), {"tiny-a.safetensors": 0, "tiny-b.safetensors": 1})
    cluster = Cluster.create(data_dir, redis_server.url).start(apis=2, workers=2)
    yield cluster
    cluster.stop()
