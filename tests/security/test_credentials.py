"""Issue 18 items 5-6: masked cmd-flags, and which routes need credentials (docs/security.md)."""
from __future__ import annotations

import httpx
import pytest

from tests.security.conftest import BASIC, TOKEN, UI_LOGIN

DOCS = ("/docs", "/redoc", "/openapi.json")


def test_cmd_flags_mask_passwords_and_tokens(api):
    response = api.get("/sdapi/v1/cmd-flags")
    assert response.status_code == 200
    flags = response.json()
    for name in ("api_auth", "gradio_auth", "api_token"):
        assert flags[name] not in (None, "") and flags[name] != "", name
    text = response.text
    for secret in (BASIC[1], TOKEN, UI_LOGIN[1]):
        assert secret not in text
    assert flags["port"] and flags["nowebui"] is False  # the other flags are shown as they are


def test_health_ping_is_public(secure_server):
    with httpx.Client(base_url=secure_server.url) as anonymous:
        response = anonymous.get("/internal/ping")
        assert response.status_code == 200 and response.json() == {}


@pytest.mark.parametrize("path", DOCS)
def test_docs_need_basic_credentials_besides_the_token(secure_server, path):
    with httpx.Client(base_url=secure_server.url, headers={"Token": TOKEN}) as token_only:
        assert token_only.get(path).status_code == 401
    with httpx.Client(base_url=secure_server.url, auth=BASIC) as basic_only:
        assert basic_only.get(path).status_code == 401
    with httpx.Client(base_url=secure_server.url, headers={"Token": TOKEN}, auth=BASIC) as both:
        assert both.get(path).status_code == 200


def test_every_api_route_needs_credentials(api, secure_server):
    """Each GET route of the OpenAPI schema, the docs and the WebUI's stream routes, asked without credentials and
    with the token alone: 401."""
    schema = api.get("/openapi.json").json()
    paths = [p for p, ops in schema["paths"].items() if "get" in ops] + [*DOCS, "/gradio_api/heartbeat/{session}"]
    assert len(paths) > 20
    public = {"/internal/ping", "/storage/{key}"}
    with httpx.Client(base_url=secure_server.url, headers={"Token": TOKEN}) as token_only, \
            httpx.Client(base_url=secure_server.url) as anonymous:
        for template in paths:
            if template in public:
                continue
            path = template.replace("{", "").replace("}", "")  # path parameters get placeholder values
            for client in (anonymous, token_only):
                status = client.get(path).status_code
                assert status == 401, (template, status)
    with httpx.Client(base_url=secure_server.url) as anonymous:
        assert anonymous.get("/storage/tasks/x/00000.png").status_code == 403  # signed links only


def test_webui_heartbeat_needs_the_login(secure_server):
    with httpx.Client(base_url=secure_server.url, timeout=10) as anonymous:
        with anonymous.stream("GET", "/gradio_api/heartbeat/some-session") as stream:
            assert stream.status_code == 401
    with httpx.Client(base_url=secure_server.url, timeout=10) as browser:
        login = browser.post("/login", data={"username": UI_LOGIN[0], "password": UI_LOGIN[1]})
        assert login.status_code in (200, 302, 303), login.text
        with browser.stream("GET", "/gradio_api/heartbeat/some-session") as stream:
            assert stream.status_code == 200
            assert next(stream.iter_lines()).startswith("data:")
