"""img2img through a real server: init images, resize modes, denoising, inpainting masks."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.support import decode_b64_image, png_b64


def gradient(width: int = 64, height: int = 64) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    y = np.linspace(0, 255, height, dtype=np.uint8)
    arr = np.stack([np.tile(x, (height, 1)), np.tile(y[:, None], (1, width)), np.full((height, width), 128, np.uint8)], -1)
    return Image.fromarray(arr)


def img2img(api, **fields):
    body = {"init_images": [png_b64(gradient())], "prompt": "a cat", "steps": 6, "width": 64, "height": 64,
            "seed": 5, "denoising_strength": 0.5, **fields}
    response = api.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_img2img_returns_image_and_echoes_without_init_images(api):
    data = img2img(api)
    assert len(data["images"]) == 1
    assert data["parameters"]["init_images"] is None
    info = json.loads(data["info"])
    assert "Denoising strength: 0.5" in info["infotexts"][0]


def test_data_url_and_raw_base64_give_the_same_result(api):
    raw = img2img(api)["images"][0]
    with_prefix = img2img(api, init_images=["data:image/png;base64," + png_b64(gradient())])["images"][0]
    assert raw == with_prefix


def test_denoising_strength_zero_keeps_the_init_image_close(api):
    kept = np.asarray(decode_b64_image(img2img(api, denoising_strength=0.0)["images"][0]), dtype=np.float32)
    changed = np.asarray(decode_b64_image(img2img(api, denoising_strength=1.0)["images"][0]), dtype=np.float32)
    original = np.asarray(gradient(), dtype=np.float32)
    assert np.abs(kept - original).mean() < np.abs(changed - original).mean()


@pytest.mark.parametrize("resize_mode", [0, 1, 2])
def test_resize_modes_produce_the_requested_size(api, resize_mode):
    wide = png_b64(gradient(128, 64))
    data = img2img(api, init_images=[wide], resize_mode=resize_mode, width=64, height=96)
    assert decode_b64_image(data["images"][0]).size == (64, 96)


def test_resize_modes_differ(api):
    wide = png_b64(gradient(128, 64))
    outputs = {img2img(api, init_images=[wide], resize_mode=m, denoising_strength=0.0)["images"][0] for m in (0, 1, 2)}
    assert len(outputs) == 3


def _mask() -> Image.Image:
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 47, 47), fill=255)
    return mask


def test_inpainting_keeps_pixels_outside_the_mask(api):
    data = img2img(api, mask=png_b64(_mask()), mask_blur=0, denoising_strength=1.0, inpainting_fill=1)
    out = np.asarray(decode_b64_image(data["images"][0]).convert("RGB"))
    original = np.asarray(gradient())
    assert np.array_equal(out[:8, :8], original[:8, :8])
    assert not np.array_equal(out[24:40, 24:40], original[24:40, 24:40])


def test_inverted_mask_repaints_the_outside(api):
    data = img2img(api, mask=png_b64(_mask()), mask_blur=0, denoising_strength=1.0, inpainting_fill=1,
                   inpainting_mask_invert=1)
    out = np.asarray(decode_b64_image(data["images"][0]).convert("RGB"))
    original = np.asarray(gradient())
    assert np.array_equal(out[24:40, 24:40], original[24:40, 24:40])
    assert not np.array_equal(out[:8, :8], original[:8, :8])


def test_missing_init_images_is_404_like_a1111(api):
    response = api.post("/sdapi/v1/img2img", json={"prompt": "x", "steps": 2})
    assert response.status_code == 404
    assert response.json()["detail"] == "Init image not found"
