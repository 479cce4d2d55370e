"""A tiny 9-channel inpainting checkpoint (sd-v1-5-inpainting layout) served by the real app: txt2img, inpainting."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from modules.model_registry.tiny import write_tiny_checkpoint
from tests.inprocess import InProcessServer
from tests.support import decode_b64_image, png_b64


@pytest.fixture(scope="module")
def inpaint_api(tmp_path_factory):
    root = tmp_path_factory.mktemp("inpaint-data")
    write_tiny_checkpoint(root / "models" / "Stable-diffusion" / "tiny-inpainting.safetensors", family="sd1",
                          seed=2, inpainting=True)
    server = InProcessServer(root).start()
    with server.client() as client:
        yield client
    server.stop()


def _init() -> Image.Image:
    arr = (np.random.RandomState(3).rand(64, 64, 3) * 255).astype(np.uint8)
    return Image.fromarray(arr)


def test_inpainting_checkpoint_is_listed_and_generates_txt2img(inpaint_api):
    assert [m["model_name"] for m in inpaint_api.get("/sdapi/v1/sd-models").json()] == ["tiny-inpainting"]
    response = inpaint_api.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "steps": 3, "width": 64, "height": 64,
                                                          "seed": 9})
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["is_using_inpainting_conditioning"] is True
    assert "Conditional mask weight: 1.0" in info["infotexts"][0]


def test_inpainting_checkpoint_inpaints_only_masked(inpaint_api):
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((24, 24, 40, 40), fill=255)
    response = inpaint_api.post("/sdapi/v1/img2img", json={
        "init_images": [png_b64(_init())], "mask": png_b64(mask), "prompt": "a cat", "steps": 3, "width": 32,
        "height": 32, "seed": 9, "denoising_strength": 1.0, "inpainting_fill": 1, "mask_blur": 0,
        "inpaint_full_res": True, "inpaint_full_res_padding": 4})
    assert response.status_code == 200, response.text
    out = np.asarray(decode_b64_image(response.json()["images"][0]).convert("RGB"))
    original = np.asarray(_init())
    assert out.shape == original.shape
    outside = np.asarray(mask) == 0
    assert np.array_equal(out[outside], original[outside])
    assert not np.array_equal(out[26:38, 26:38], original[26:38, 26:38])
    text = json.loads(response.json()["info"])["infotexts"][0]
    assert "Inpaint area: Only masked" in text and "Masked area padding: 4" in text
