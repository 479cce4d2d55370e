"""Checkpoint switching through alwayson_scripts, the RAM cache, refused save_dirs and auth, on a live server."""
from __future__ import annotations

import os

import pytest

from tests.eas.conftest import BASIC, TOKEN

SMALL = {"prompt": "a lighthouse", "steps": 3, "width": 64, "height": 64, "seed": 7}


def _run(api, model: str, **extra) -> dict:
    body = {**SMALL, "alwayson_scripts": {"sd_model_checkpoint": model, **extra}}
    response = api.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _aliases(api, name: str) -> list[str]:
    model = next(m for m in api.get("/sdapi/v1/sd-models").json() if m["title"].startswith(name))
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return [model["title"], name, name.rsplit("/", 1)[-1], stem, model["hash"], model["sha256"]]


def test_every_alias_switches_and_switching_back_is_byte_identical(cache_api, cache_server):
    first = _run(cache_api, "deliberate_v2.safetensors")
    assert first["parameters"]["status"] == 0 and len(first["images"]) == 1  # no save_dir: images are returned
    reference = first["images"][0]
    for alias in _aliases(cache_api, "sub/other-model.safetensors"):
        other = _run(cache_api, alias)["images"][0]
        assert other != reference, alias
        assert _run(cache_api, "deliberate_v2.safetensors")["images"][0] == reference
    for alias in _aliases(cache_api, "deliberate_v2.safetensors"):
        _run(cache_api, "sub/other-model.safetensors")
        assert _run(cache_api, alias)["images"][0] == reference, alias
    memory = cache_api.get("/sdapi/v1/memory").json()["easel"]
    assert memory["dynamic_cache"] and memory["loaded"].startswith("deliberate_v2.safetensors")
    assert [m["title"].split(" ")[0] for m in memory["cached_models"]] == ["sub/other-model.safetensors"]
    log = cache_server.log()
    assert "RAM cache: keeping" in log and "from the RAM cache" in log


def test_unknown_model_lists_close_matches(cache_api):
    response = cache_api.post("/sdapi/v1/txt2img", json={**SMALL, "alwayson_scripts": {
        "sd_model_checkpoint": "deliberate_v3.safetensors", "id_task": "t-unknown"}})
    assert response.status_code == 404
    params = response.json()["parameters"]
    assert params["status"] == 404 and params["id_task"] == "t-unknown"
    assert "Did you mean" in params["error_msg"] and "deliberate_v2.safetensors" in params["error_msg"]
    assert cache_api.post("/sdapi/v1/txt2img", json=SMALL).status_code == 200  # the server goes on


def test_unknown_vae_is_refused(cache_api):
    response = cache_api.post("/sdapi/v1/txt2img", json={**SMALL, "alwayson_scripts": {"sd_vae": "nope.pt"}})
    assert response.status_code == 404 and "sd_vae" in response.json()["parameters"]["error_msg"]


@pytest.mark.parametrize("save_dir", ["../outside", "outputs/../../x", "/etc/eas", "/code/stable-diffusion-webui/x",
                                      "/code/stable-diffusion-webui/data/../x", "escape/inner", "dangling/x",
                                      "out\\..\\x", "a\x00b"])
def test_save_dir_escapes_are_refused_and_nothing_is_written(cache_api, cache_server, save_dir):
    data = cache_server.data_dir
    outside = data.parent / f"{data.name}-outside"
    outside.mkdir(exist_ok=True)
    if not os.path.lexists(data / "escape"):
        os.symlink(outside, data / "escape")
        os.symlink(outside / "missing", data / "dangling")
    before = sorted(p for p in outside.rglob("*"))
    response = cache_api.post("/sdapi/v1/txt2img", json={**SMALL, "alwayson_scripts": {"save_dir": save_dir}})
    assert response.status_code == 403, response.text
    params = response.json()["parameters"]
    assert params["status"] == 403 and params["image_url"] == "" and "save_dir" in params["error_msg"]
    assert sorted(p for p in outside.rglob("*")) == before
    assert not (data / "x").exists() and not (data.parent / "outside").exists()


def test_bad_uid_is_refused(cache_api):
    response = cache_api.post("/sdapi/v1/txt2img", json={**SMALL, "alwayson_scripts": {"save_dir": "o", "uid": "../u"}})
    assert response.status_code == 422 and "uid" in response.json()["parameters"]["error_msg"]


def test_local_image_links_are_refused_by_default(cache_api, cache_server):
    body = {**SMALL, "init_images": [], "alwayson_scripts": {"image_link": cache_server.images_url + "/img.png"}}
    response = cache_api.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 403
    assert "api_forbid_local_requests" in response.json()["parameters"]["error_msg"]


def test_token_and_basic_auth_are_both_required(cache_server):
    with cache_server.client() as client:
        assert client.get("/sdapi/v1/sd-models", headers={"Token": TOKEN}).status_code == 401  # no Basic
        assert client.get("/sdapi/v1/sd-models", auth=BASIC).status_code == 401  # no token
        assert client.get("/sdapi/v1/sd-models", auth=BASIC, headers={"Token": "wrong"}).status_code == 401
        ok = client.get("/sdapi/v1/sd-models", auth=BASIC, headers={"Token": TOKEN})
        assert ok.status_code == 200
        unauthorized = client.get("/internal/pending-tasks")
        assert unauthorized.status_code == 401 and unauthorized.json()["detail"] == "Invalid or missing API token"
        assert client.get("/internal/ping").status_code == 200  # the health check is public (docs/security.md)
        assert client.options("/sdapi/v1/txt2img").status_code != 401  # CORS preflights carry no credentials
