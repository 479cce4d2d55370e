"""Built-in extensions, the WebUI and server control, on real server processes."""
from __future__ import annotations

import textwrap

import pytest

from tests.support import EaselServer, make_data_dir

SMALL = {"prompt": "x", "steps": 3, "width": 64, "height": 64, "seed": 3}


def test_builtin_extension_routes_are_served(api):
    listing = api.get("/filebrowser/api/list", params={"path": "models"})
    assert listing.status_code == 200
    assert "Stable-diffusion" in [e["name"] for e in listing.json()["entries"]]
    assert api.get("/filebrowser/api/list", params={"path": "../"}).status_code == 403
    models = api.get("/beautifulprompt/models")
    assert models.status_code == 200 and models.json()["models"][0] == "Built-in (no model)"
    expanded = api.post("/beautifulprompt/expand", json={"prompt": "a castle", "count": 2, "seed": 1})
    assert expanded.status_code == 200
    assert all(p.startswith("a castle") for p in expanded.json()["prompts"])
    names = [e["name"] for e in api.get("/sdapi/v1/extensions").json()]
    assert {"filebrowser", "beautifulprompt"} <= set(names)


THIRD_PARTY = '''
from fastapi import FastAPI
from modules import script_callbacks, scripts


class Shout(scripts.Script):
    def title(self):
        return "Shout"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        import gradio as gr
        return [gr.Checkbox(label="Enabled", value=False), gr.Textbox(label="Suffix", value="LOUDLY")]

    def process(self, p, enabled, suffix):
        if enabled:
            p.all_prompts = [prompt + ", " + suffix for prompt in p.all_prompts]
            p.extra_generation_params["Shout"] = suffix


def add_routes(demo, app: FastAPI):
    @app.get("/shout/ping")
    def ping():
        return {"shout": "pong"}


script_callbacks.on_app_started(add_routes)
'''

BROKEN = "raise RuntimeError('this extension is broken on purpose')\n"


@pytest.fixture(scope="module")
def server_with_extensions(tmp_path_factory):
    from tests.support import ROOT

    ext_dir = ROOT / "extensions"
    created = [ext_dir / "test-shout", ext_dir / "test-broken"]
    for path in created:
        (path / "scripts").mkdir(parents=True, exist_ok=True)
    (created[0] / "scripts" / "shout.py").write_text(textwrap.dedent(THIRD_PARTY))
    (created[1] / "scripts" / "broken.py").write_text(BROKEN)
    server = EaselServer(make_data_dir(tmp_path_factory.mktemp("ext")), "--api-server-stop")
    try:
        yield server.start()
    finally:
        server.stop()
        import shutil

        for path in created:
            shutil.rmtree(path, ignore_errors=True)


def test_third_party_extension_adds_a_route_and_edits_the_prompt(server_with_extensions):
    with server_with_extensions.client() as client:
        assert client.get("/shout/ping").json() == {"shout": "pong"}
        plain = client.post("/sdapi/v1/txt2img", json=SMALL).json()
        shouted = client.post("/sdapi/v1/txt2img", json={
            **SMALL, "alwayson_scripts": {"shout": {"args": [True]}}}).json()
        import json

        info = json.loads(shouted["info"])
        assert info["prompt"] == "x, LOUDLY"
        assert "Shout: LOUDLY" in info["infotexts"][0]
        assert shouted["images"][0] != plain["images"][0]
        assert "shout" in client.get("/sdapi/v1/scripts").json()["txt2img"]
        unknown = client.post("/sdapi/v1/txt2img", json={**SMALL, "alwayson_scripts": {"nope": {"args": []}}})
        assert unknown.status_code == 422 and "Script 'nope' not found" in unknown.json()["detail"]
    assert "this extension is broken on purpose" in server_with_extensions.log()


def test_server_stop_ends_the_process(server_with_extensions):
    with server_with_extensions.client() as client:
        response = client.post("/sdapi/v1/server-stop")
        assert response.status_code == 200 and response.text == "Stopping."
    assert server_with_extensions.proc.wait(timeout=30) is not None


def test_server_stop_needs_the_flag(api):
    assert api.post("/sdapi/v1/server-stop").status_code == 404


def test_webui_is_served_at_root(tmp_path):
    server = EaselServer(make_data_dir(tmp_path), webui=True).start(timeout=180)
    try:
        with server.client() as client:
            page = client.get("/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            assert client.get("/sdapi/v1/samplers").status_code == 200
            assert client.get("/filebrowser/api/list", params={"path": ""}).status_code == 200
            assert client.post("/sdapi/v1/txt2img", json=SMALL).status_code == 200
    finally:
        server.stop()
