"""Two real servers shared by the EAS tests (their start-up dominates the run time on a shared CPU)."""
from __future__ import annotations

import sys

import pytest

from tests.eas.support import ONE_THREAD, ImageServer, make_eas_data_dir
from tests.support import ROOT, EaselServer

# `eas_lib` for the in-process tests (the WebUI puts the extension dir on sys.path the same way)
if str(ROOT / "extensions_builtin" / "eas") not in sys.path:
    sys.path.append(str(ROOT / "extensions_builtin" / "eas"))

TOKEN = "eas-test-token"
OSS_HOST = "https://eas-cache-cn-hangzhou.oss-cn-hangzhou-internal.aliyuncs.com/"
BASIC = ("admin", "s3cret")


@pytest.fixture(scope="session")
def links_server(tmp_path_factory):
    """--api-token; local image_link requests allowed (--api-allow-local-requests); the seed's OSS host mapped to a
    local server."""
    data = make_eas_data_dir(tmp_path_factory.mktemp("seed"), {"deliberate_v2.safetensors": 0,
                                                               "v1-5-pruned-emaonly.safetensors": 1})
    with ImageServer() as images:
        server = EaselServer(data, "--api-token", TOKEN, "--api-allow-local-requests",
                             "--eas-link-map", f"{OSS_HOST}={images.url}/",
                             "--eas-link-max-bytes", "1000000", env=ONE_THREAD).start()
        server.images_url = images.url
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def cache_server(tmp_path_factory):
    """--sd-dynamic-cache with no reserve, --api-token and --api-auth together, default options."""
    data = make_eas_data_dir(tmp_path_factory.mktemp("cache"), {"deliberate_v2.safetensors": 0,
                                                                "sub/other-model.safetensors": 1})
    with ImageServer() as images:
        server = EaselServer(data, "--sd-dynamic-cache", "--min-ram-reserved", "0", "--api-token", TOKEN,
                             "--api-auth", ":".join(BASIC), env=ONE_THREAD).start()
        server.images_url = images.url
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture()
def cache_api(cache_server):
    with cache_server.client(headers={"Token": TOKEN}, auth=BASIC) as client:
        yield client

