"""Issue 18 item 4: security settings come from flags only; server files are not writable through the FileBrowser."""
from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.security.conftest import SMALL, error_text
from tests.security.test_secrets_filebrowser import API, _tus_create

FLAG_ONLY = {"api_forbid_local_requests": False, "api_enable_requests": False}
FLAGS = {"api_forbid_local_requests": "--api-allow-local-requests", "api_enable_requests": "--api-disable-requests"}


def _upload(api: httpx.Client, folder: str, name: str, data: bytes) -> int:
    created = _tus_create(api, folder, name, size=len(data))
    if created.status_code != 201:
        return created.status_code
    patched = api.patch(created.headers["Location"], content=data,
                        headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                                 "Content-Type": "application/offset+octet-stream"})
    return patched.status_code


def test_security_options_cannot_be_set(api):
    for key, value in FLAG_ONLY.items():
        response = api.post("/sdapi/v1/options", json={key: value})
        assert response.status_code == 422 and key in error_text(response), response.text
        assert FLAGS[key] in error_text(response)  # the refusal names the flag that does change it
        overridden = api.post("/sdapi/v1/txt2img", json={**SMALL, "override_settings": {key: value}})
        assert overridden.status_code == 422 and key in error_text(overridden)
        serverless = api.post("/options", json={"data": {key: value}})
        assert serverless.status_code == 422
    options = api.get("/sdapi/v1/options").json()
    assert options["api_forbid_local_requests"] is True and options["api_enable_requests"] is True


@pytest.mark.parametrize("name", ["config.json", "styles.csv", "Config.JSON"])
def test_server_files_are_not_writable_through_the_filebrowser(api, secure_server, name):
    poisoned = json.dumps({"api_forbid_local_requests": False}).encode()
    assert _upload(api, "", name, poisoned) == 403
    assert _upload(api, "cache", "hashes.json", b"{}") == 403
    note = secure_server.data_dir / "outputs" / "moved.json"
    note.parent.mkdir(exist_ok=True)
    note.write_bytes(poisoned)
    assert api.post(f"{API}/move", json={"src": "outputs/moved.json", "dst": name, "overwrite": True}).status_code == 403
    assert api.post(f"{API}/mkdir", json={"path": "cache/new"}).status_code == 403
    if (secure_server.data_dir / "config.json").exists():
        assert api.delete(f"{API}/delete", params={"path": "config.json"}).status_code == 403
        assert api.get(f"{API}/download", params={"path": "config.json"}).status_code == 200  # readable
    text = (secure_server.data_dir / "config.json").read_text() if (secure_server.data_dir / "config.json").exists() \
        else ""
    assert "api_forbid_local_requests" not in text


def test_a_poisoned_config_json_and_restart_do_not_turn_the_guard_off(api, secure_server):
    """Even written on the server's disk, config.json cannot switch the SSRF guard off: /restart reloads it and the
    flag-only options keep their flag values; a link to a loopback address stays refused."""
    config = secure_server.data_dir / "config.json"
    original = config.read_text() if config.exists() else None
    stored = json.loads(original) if original else {}
    config.write_text(json.dumps({**stored, "api_forbid_local_requests": False}))
    try:
        assert api.post("/restart").status_code == 200
        assert api.get("/sdapi/v1/options").json()["api_forbid_local_requests"] is True
        from PIL import Image

        from tests.support import png_b64

        body = {**SMALL, "init_images": [png_b64(Image.new("RGB", (64, 64)))],
                "alwayson_scripts": {"image_link": f"{secure_server.url}/internal/ping"}}
        response = api.post("/sdapi/v1/img2img", json=body)
        assert response.status_code == 403 and "api_forbid_local_requests" in error_text(response)
    finally:
        if original is None:
            config.unlink(missing_ok=True)
        else:
            config.write_text(original)
        api.post("/restart")


def test_allow_config_flag_lets_an_admin_write_them(tmp_path):
    """With --filebrowser-allow-config (the FileBrowser routes on a bare app) config.json can be uploaded."""
    from tests.filebrowser.conftest import make_app, serve

    (tmp_path / "cache").mkdir()
    with serve(make_app(tmp_path, allow_config=True)) as url, httpx.Client(base_url=url) as client:
        assert _upload(client, "", "config.json", b"{}") == 204
        assert (tmp_path / "config.json").read_bytes() == b"{}"
        meta = base64.b64encode(b"tasks.sqlite3").decode()
        refused = client.post(f"{API}/tus/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1",
                                                      "Upload-Metadata": f"filename {meta}"})
        assert refused.status_code == 403  # private files stay out of reach even then
    with serve(make_app(tmp_path)) as url, httpx.Client(base_url=url) as client:
        assert _upload(client, "", "config.json", b"[]") == 403
