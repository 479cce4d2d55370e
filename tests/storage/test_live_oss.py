"""Against a REAL OSS bucket: runs only when OSS_TEST_BUCKET, OSS_ENDPOINT (or OSS_REGION-derived endpoint)
and credentials (OSS_ACCESS_KEY_ID + OSS_ACCESS_KEY_SECRET [+ OSS_SESSION_TOKEN], or OSS_ECS_RAM_ROLE) are set;
skipped otherwise. This is the only skip in the storage tests (docs/storage.md); everything else runs against
moto_server and the OSS protocol fake. It works under a fresh prefix and deletes what it wrote."""
from __future__ import annotations

import os
import secrets
from argparse import Namespace

import httpx
import pytest

from modules.storage.factory import storage_from_url

_HAVE_CREDENTIALS = bool(os.environ.get("OSS_ACCESS_KEY_ID") and os.environ.get("OSS_ACCESS_KEY_SECRET")) or bool(
    os.environ.get("OSS_ECS_RAM_ROLE"))
pytestmark = pytest.mark.skipif(
    not (os.environ.get("OSS_TEST_BUCKET") and os.environ.get("OSS_ENDPOINT") and _HAVE_CREDENTIALS),
    reason="live OSS test: set OSS_TEST_BUCKET, OSS_ENDPOINT and OSS credentials to run it (docs/storage.md)")


@pytest.fixture()
def live():
    prefix = f"easel-live-test/{secrets.token_hex(6)}"
    store = storage_from_url(f"oss://{os.environ['OSS_TEST_BUCKET']}/{prefix}", Namespace(storage_multipart_mb=1),
                             default_root=None)
    yield store
    store.delete_prefix("")
    store.close()


def test_live_round_trip(live, tmp_path):
    live.write("tasks/live/00000.png", b"\x89PNG live")
    assert live.read("tasks/live/00000.png") == b"\x89PNG live"
    assert [i.key for i in live.list("tasks")] == ["tasks/live/00000.png"]
    response = httpx.get(live.signed_url("tasks/live/00000.png", 120), timeout=30)
    assert response.status_code == 200 and response.content == b"\x89PNG live"
    big = os.urandom(live.multipart_threshold + 1)
    path = tmp_path / "big.bin"
    path.write_bytes(big)
    live.write_file("models/big.bin", path)
    assert live.stat("models/big.bin").size == len(big)
    assert live.read("models/big.bin") == big
    assert live.delete_prefix("") == 2
