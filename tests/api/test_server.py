"""Server start-up and flags: auth, unknown flags, the tiny model on a fresh data dir, model switching."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import ROOT, EaselServer, make_data_dir

SMALL = {"prompt": "x", "steps": 3, "width": 64, "height": 64, "seed": 3}


def test_unknown_flag_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--skip-install", "--data-dir", str(tmp_path),
                             "--no-such-flag"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--no-such-flag" in result.stderr


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    data_dir = make_data_dir(tmp_path_factory.mktemp("auth"))
    server = EaselServer(data_dir, "--api-auth", "alice:secret,bob:pw2").start()
    yield server
    server.stop()


def test_api_auth_answers_401_with_a_challenge(auth_server):
    with auth_server.client() as client:
        missing = client.get("/sdapi/v1/samplers")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Basic"
        assert missing.json()["detail"] == "Not authenticated"
        wrong = client.get("/sdapi/v1/samplers", auth=("alice", "nope"))
        assert wrong.status_code == 401 and wrong.json()["detail"] == "Incorrect username or password"
        assert client.get("/sdapi/v1/samplers", auth=("alice", "secret")).status_code == 200
        assert client.post("/sdapi/v1/txt2img", json=SMALL, auth=("bob", "pw2")).status_code == 200
        assert client.post("/sdapi/v1/txt2img", json=SMALL).status_code == 401


def test_fresh_data_dir_gets_a_loud_tiny_model(tmp_path):
    server = EaselServer(tmp_path).start()
    try:
        with server.client() as client:
            models = client.get("/sdapi/v1/sd-models").json()
            assert [m["model_name"] for m in models] == ["easel-tiny-random"]
            assert client.post("/sdapi/v1/txt2img", json=SMALL).status_code == 200
        assert "TINY RANDOM-WEIGHT TEST MODEL" in server.log()
    finally:
        server.stop()


def _image(api, **override):
    response = api.post("/sdapi/v1/txt2img", json={**SMALL, "override_settings": override})
    assert response.status_code == 200, response.text
    return response.json()


def test_checkpoint_switch_by_every_alias_form(api):
    models = {m["model_name"]: m for m in api.get("/sdapi/v1/sd-models").json()}
    assert set(models) == {"tiny-a", "sub/tiny-b"}
    b = models["sub/tiny-b"]
    first = _image(api, sd_model_checkpoint="tiny-a")
    forms = [b["title"], "sub/tiny-b.safetensors", "tiny-b.safetensors", "sub/tiny-b", "tiny-b", b["hash"], b["sha256"]]
    outputs = {_image(api, sd_model_checkpoint=form)["images"][0] for form in forms}
    assert len(outputs) == 1 and first["images"][0] not in outputs
    info = json.loads(_image(api, sd_model_checkpoint=b["hash"])["info"])
    assert info["sd_model_hash"] == b["hash"] and info["sd_model_name"] == "tiny-b"
    again = _image(api, sd_model_checkpoint="tiny-a")
    assert again["images"][0] == first["images"][0]


def test_options_select_the_checkpoint_and_persist(tmp_path):
    data_dir = make_data_dir(tmp_path, {"one.safetensors": 0, "two.safetensors": 1})
    server = EaselServer(data_dir).start()
    try:
        with server.client() as client:
            assert client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "two"}).status_code == 200
            title = client.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
            assert title.startswith("two.safetensors [")
            info = json.loads(client.post("/sdapi/v1/txt2img", json=SMALL).json()["info"])
            assert info["sd_model_name"] == "two"
            assert client.post("/sdapi/v1/options", json={"send_seed": False}).status_code == 200
            bad = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "three"})
            assert bad.status_code == 404 and "one" in bad.json()["detail"]
    finally:
        server.stop()
    stored = json.loads((data_dir / "config.json").read_text())
    assert stored["send_seed"] is False and stored["sd_model_checkpoint"].startswith("two.safetensors")


def test_gradio_auth_also_protects_the_filebrowser(tmp_path):
    server = EaselServer(make_data_dir(tmp_path), "--gradio-auth", "ann:pw", "--api-auth", "bot:key",
                         webui=True).start(timeout=180)
    try:
        with server.client() as client:
            assert client.get("/filebrowser/api/list", params={"path": ""}).status_code == 401
            assert client.get("/internal/pending-tasks").status_code == 401
            assert client.get("/filebrowser/api/list", params={"path": ""}, auth=("bot", "key")).status_code == 200
            assert client.get("/internal/pending-tasks", auth=("bot", "key")).status_code == 200
    finally:
        server.stop()
