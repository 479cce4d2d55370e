"""Every request example of seed 001 (the managed-service contract), verbatim, on a real server with --api-token."""
from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from tests.eas.conftest import TOKEN
from tests.eas.support import seed_examples

MOUNT = "/code/stable-diffusion-webui/data"
EXAMPLES = seed_examples()


@pytest.fixture()
def seed_server(links_server):
    return links_server


def _post(server, path: str, body: dict, **kwargs):
    with server.client(headers={"Authorization": TOKEN}) as client:
        return client.post(path, json=body, **kwargs)


def _local(server, url: str) -> Path:
    """The file behind an image_url in the mount spelling or relative to the data dir."""
    for prefix in (MOUNT + "-oss/", MOUNT + "/"):
        if url.startswith(prefix):
            return server.data_dir / url[len(prefix):]
    return server.data_dir / url


def _check_saved(server, params: dict, mode: str, n: int) -> list[Path]:
    urls = params["image_url"].split(",")
    assert len(urls) == n + 1  # the grid first, then one per image, as in the seed
    today = date.today().isoformat()
    assert f"/{mode}-grids/{today}/grid-" in urls[0]
    seeds = params["seed"].split(",")
    assert len(seeds) == n
    files = [_local(server, url) for url in urls]
    for url, seed in zip(urls[1:], seeds):
        assert f"/{mode}-images/{today}/" in url and url.endswith(f"-{seed}.png")
    for path in files:
        with Image.open(path) as image:
            assert "Steps: " in image.info["parameters"]
    return files


def test_the_seed_has_the_examples_we_expect():
    assert len(EXAMPLES) == 6
    assert sum(1 for e in EXAMPLES if "controlnet" in e.get("alwayson_scripts", {})) == 1


def test_python_examples_plain_and_oss(seed_server):
    plain = {"prompt": "a serene mountain landscape at sunset", "negative_prompt": "blurry, low quality, deformed",
             "steps": 25, "width": 512, "height": 512, "cfg_scale": 7.5}
    response = _post(seed_server, "/sdapi/v1/txt2img", plain)
    assert response.status_code == 200 and len(response.json()["images"]) == 1
    oss = {"prompt": "professional portrait photography", "steps": 30,
           "alwayson_scripts": {"sd_model_checkpoint": "v1-5-pruned-emaonly.safetensors",
                                "save_dir": "/code/stable-diffusion-webui/data/outputs"}}
    data = _post(seed_server, "/sdapi/v1/txt2img", oss).json()
    assert data["images"] == [] and data["parameters"]["status"] == 0
    for img_path in data["parameters"]["image_url"].split(","):
        assert img_path.startswith(MOUNT + "/outputs/txt2img-images/")
        assert _local(seed_server, img_path).is_file()
    queued = {"prompt": "futuristic city skyline", "steps": 30,
              "alwayson_scripts": {"save_dir": "/code/stable-diffusion-webui/data/outputs"}}
    data = _post(seed_server, "/sdapi/v1/txt2img?task_id=job_001", queued).json()
    assert data["parameters"]["id_task"] == "job_001" and data["parameters"]["status"] == 0


def test_lora_example_runs_plain(seed_server):
    response = _post(seed_server, "/sdapi/v1/txt2img", EXAMPLES[0])
    assert response.status_code == 200, response.text
    assert len(response.json()["images"]) == 1


@pytest.mark.parametrize("index", [1, 2])
def test_txt2img_save_dir_examples(seed_server, index):
    response = _post(seed_server, "/sdapi/v1/txt2img", EXAMPLES[index])
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["images"] == [] and set(data) == {"images", "parameters", "info"}
    params = data["parameters"]
    assert params["status"] == 0 and params["error_msg"] == "" and params["total_time"] > 0
    assert params["image_url"].startswith("/code/stable-diffusion-webui/data-oss/outputs/txt2img-grids/")
    files = _check_saved(seed_server, params, "txt2img", 2)
    assert all(str(f).startswith(str(seed_server.data_dir / "outputs")) for f in files)
    options = _post(seed_server, "/sdapi/v1/txt2img", {"prompt": "x", "steps": 1, "width": 64, "height": 64})
    assert json.loads(options.json()["info"])["sd_model_name"] == "deliberate_v2"  # the model stays current


def test_async_style_example_with_id_task_and_uid(seed_server):
    data = _post(seed_server, "/sdapi/v1/txt2img", EXAMPLES[3]).json()
    params = data["parameters"]
    assert params["id_task"] == "14837" and params["status"] == 0 and params["uid"] == "123"
    assert params["image_url"].startswith("tmp/outputs/123/txt2img-grids/")
    _check_saved(seed_server, params, "txt2img", 2)
    assert "id_task=14837 uid=123" in seed_server.log()
    with seed_server.client(headers={"Authorization": TOKEN}) as client:
        record = client.get("/sdapi/v1/tasks/14837").json()
    assert record["parameters"]["comments"]["uid"] == "123"  # the uid is recorded with the task


def test_img2img_example_fetches_image_link(seed_server):
    response = _post(seed_server, "/sdapi/v1/img2img", EXAMPLES[4])
    assert response.status_code == 200, response.text
    params = response.json()["parameters"]
    assert params["status"] == 0 and params["seed"] == "111,112"
    _check_saved(seed_server, params, "img2img", 2)


def test_controlnet_example_answers_model_not_installed(seed_server):
    response = _post(seed_server, "/sdapi/v1/txt2img", EXAMPLES[5])
    assert response.status_code == 404
    params = response.json()["parameters"]
    assert params["status"] == 404
    assert re.search(r"ControlNet model 'control_v11p_sd15_canny' not installed", params["error_msg"])
    bad_unit = json.loads(json.dumps(EXAMPLES[5]))
    bad_unit["alwayson_scripts"]["controlnet"]["args"][0]["guidance_start"] = 2
    assert _post(seed_server, "/sdapi/v1/txt2img", bad_unit).status_code == 422


def test_token_is_required(seed_server):
    with seed_server.client() as client:
        assert client.post("/sdapi/v1/txt2img", json=EXAMPLES[0]).status_code == 401
        assert client.get("/sdapi/v1/sd-models", headers={"Authorization": "wrong"}).status_code == 401
        assert client.get("/filebrowser/api/list", params={"path": ""}).status_code == 401
        assert client.get("/sdapi/v1/sd-models", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert client.get("/sdapi/v1/sd-models", headers={"Token": TOKEN}).status_code == 200
