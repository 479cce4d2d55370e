"""The managed-service keys with ControlNet: the seed's "txt2img using ControlNet" example verbatim (a unit
`image_link`, `save_dir`, detected maps in `parameters.image_mask_url`), and the unit checks coming before any
link is fetched."""
from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from lib_controlnet import tiny
from PIL import Image

from tests.eas.support import ImageServer, make_eas_data_dir, seed_examples
from tests.inprocess import InProcessServer

SEED_LINK_HOST = "https://pai-aigc-dataset.oss-cn-hangzhou.aliyuncs.com/"
MOUNT = "/code/stable-diffusion-webui/data-oss"


@pytest.fixture(scope="module")
def example():
    found = [e for e in seed_examples() if "controlnet" in e.get("alwayson_scripts", {})]
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def managed(tmp_path_factory):
    """The seed's checkpoint name (a fast tiny 8x checkpoint) and its ControlNet, the seed's link host mapped to a
    local image server."""
    import torch

    from modules.model_registry.loader import build_pipeline_from_state
    from modules.model_registry.safe_load import load_checkpoint

    root = make_eas_data_dir(tmp_path_factory.mktemp("managed-cn"), {"deliberate_v2.safetensors": 0})
    checkpoint = root / "models" / "Stable-diffusion" / "deliberate_v2.safetensors"
    pipe, _family, _prediction = build_pipeline_from_state(load_checkpoint(checkpoint), dtype=torch.float32,
                                                           cache_dir=root / "cache")
    tiny.write_tiny_controlnet(root / "models" / "ControlNet" / "control_v11p_sd15_canny.pth",
                               unet_config=dict(pipe.unet.config), prefix="")
    del pipe
    with ImageServer() as images:
        server = InProcessServer(root, "--api-allow-local-requests", "--eas-link-map",
                                 f"{SEED_LINK_HOST}={images.url}/").start()
        server.images_url = images.url
        try:
            yield server
        finally:
            server.stop()


def test_the_seed_example_saves_the_detected_maps(managed, example):
    with managed.client() as client:
        response = client.post("/sdapi/v1/txt2img", json=example)
    assert response.status_code == 200, response.text
    data = response.json()
    params = data["parameters"]
    assert data["images"] == [] and params["status"] == 0 and params["error_msg"] == ""
    today = date.today().isoformat()
    urls = params["image_url"].split(",")
    assert len(urls) == 3 and f"/txt2img-grids/{today}/" in urls[0]  # the grid, then the n_iter = 2 images
    masks = params["image_mask_url"].split(",")
    assert len(masks) == 1 and masks[0].startswith(f"{MOUNT}/outputs/controlnet_mask/{today}/")
    saved = managed.data_dir / masks[0][len(MOUNT) + 1:]
    with Image.open(saved) as detected:
        assert detected.size == (576, 576)
    info = json.loads(data["info"])
    assert len(info["all_seeds"]) == 2 and 'ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [' in \
        info["infotexts"][0] and "Pixel Perfect: True" in info["infotexts"][0]


def test_units_are_checked_before_their_links_are_fetched(managed, example):
    def post(body):
        with managed.client() as client:
            return client.post("/sdapi/v1/txt2img", json=body)

    missing = copy.deepcopy(example)
    unit = missing["alwayson_scripts"]["controlnet"]["args"][0]
    unit.update(model="control_not_here", image_link=f"{managed.images_url}/missing.png")
    response = post(missing)  # the link would answer 404 (a 502 here): the model is checked first
    assert response.status_code == 404
    assert response.json()["parameters"]["error_msg"].startswith(
        "alwayson_scripts.controlnet.args[0].model: ControlNet model 'control_not_here' not installed")
    bad = copy.deepcopy(example)
    bad["alwayson_scripts"]["controlnet"]["args"][0].update(guidance_start=2, image_link=f"{managed.images_url}/text")
    assert post(bad).status_code == 422
    broken = copy.deepcopy(example)
    broken["alwayson_scripts"]["controlnet"]["args"][0]["image_link"] = f"{managed.images_url}/text"
    response = post(broken)
    assert response.status_code == 422
    assert response.json()["parameters"]["error_msg"].startswith("alwayson_scripts.controlnet.args[0].image_link")


def test_a_unit_link_without_save_dir_returns_the_maps_inline(managed):
    body = {"prompt": "a house", "steps": 3, "width": 64, "height": 64,
            "alwayson_scripts": {"sd_model_checkpoint": "deliberate_v2.safetensors", "ControlNet": {"args": [
                {"enabled": True, "module": "none", "model": "control_v11p_sd15_canny",
                 "image_link": f"{managed.images_url}/img.png"}]}}}
    with managed.client() as client:
        response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["images"]) == 2  # the image and the (red) control map
