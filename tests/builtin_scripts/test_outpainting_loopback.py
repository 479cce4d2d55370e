"""Outpainting mk2, Poor man's outpainting and Loopback through the real app, with A1111's script_args."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from modules.outpainting import match_histograms, matched_noise
from tests.builtin_scripts.test_builtin_scripts import run_script
from tests.support import png_b64

ALL_SIDES = ["left", "right", "up", "down"]


def init_image(size: int = 64) -> Image.Image:
    rng = np.random.RandomState(4)
    ramp = np.linspace(40, 220, size, dtype=np.float32)
    arr = np.stack([np.tile(ramp, (size, 1)), np.tile(ramp[:, None], (1, size)), np.full((size, size), 90.0)], -1)
    return Image.fromarray(np.clip(arr + rng.rand(size, size, 3) * 30, 0, 255).astype(np.uint8))


def img2img_script(api, name: str, args: list, **fields):
    return run_script(api, name, args, mode="img2img", init_images=[png_b64(init_image())],
                      denoising_strength=0.8, **fields)


def test_img2img_scripts_are_listed(api):
    listed = api.get("/sdapi/v1/scripts").json()
    for name in ("outpainting mk2", "poor man's outpainting", "loopback"):
        assert name in listed["img2img"] and name not in listed["txt2img"]


def test_outpainting_mk2_with_the_managed_service_arguments_grows_every_side(api):
    images, info = img2img_script(api, "Outpainting mk2", ["Outpainting", 128, 8, ALL_SIDES, 1, 0.05])
    assert len(images) == 1
    out = np.asarray(images[0].convert("RGB"))
    assert out.shape == (64 + 256, 64 + 256, 3)  # 128 pixels on each side
    # the old picture is kept but for the `mask blur` band next to each new side (matched noise there; with a
    # request size of 64 the inpainted strips do not reach it)
    assert np.array_equal(out[136:184, 136:184], np.asarray(init_image())[8:56, 8:56])
    assert out[:64, :64].std() > 1  # the corner was painted (matched noise, then inpainted), not left black
    text = info["infotexts"][0]
    assert "Mask blur: 32" in text and "Denoising strength: 0.8" in text  # mask blur x4, as A1111


def test_outpainting_mk2_one_side_rounds_to_64_and_batches(api):
    images, info = img2img_script(api, "Outpainting mk2", ["", 40, 4, ["right"], 1, 0.05], batch_size=2)
    assert [im.size for im in images] == [(256, 64), (128, 64), (128, 64)]  # grid (two images), then the results
    assert np.array_equal(np.asarray(images[1].convert("RGB"))[:, :60], np.asarray(init_image())[:, :60])
    assert len(info["infotexts"]) == 3


def test_outpainting_mk2_bad_direction_is_422(api):
    response = api.post("/sdapi/v1/img2img", json={
        "init_images": [png_b64(init_image())], "steps": 1, "width": 64, "height": 64,
        "script_name": "Outpainting mk2", "script_args": ["", 64, 8, ["sideways"], 1, 0.05]})
    assert response.status_code == 422 and "sideways" in response.json()["detail"]


def test_poor_mans_outpainting_grows_the_canvas(api):
    images, info = img2img_script(api, "Poor man's outpainting", [32, 4, "original", ["left", "down"]])
    assert len(images) == 1 and images[0].size == (128, 128)  # 64 + 32 rounded up to 128 on both axes
    out = np.asarray(images[0].convert("RGB"))
    assert out[64:, :64].std() > 1  # the new corner was generated
    assert "Mask blur: 8" in info["infotexts"][0]  # mask blur x2, as A1111


def test_loopback_feeds_each_result_back(api):
    images, info = img2img_script(api, "Loopback", [3, 0.3, "Linear", "None"], seed=11)
    assert len(images) == 4 and images[0].size == (192, 64)  # a one-row grid of the 3 loops, then the loops
    assert len({im.tobytes() for im in images[1:]}) == 3
    text = info["infotexts"][0]
    assert "Final denoising strength: 0.3" in text and "Denoising curve: Linear" in text
    assert info["seed"] == 11


def test_loopback_interrogation_is_refused_clearly(api):
    response = api.post("/sdapi/v1/img2img", json={
        "init_images": [png_b64(init_image())], "steps": 1, "width": 64, "height": 64,
        "script_name": "Loopback", "script_args": [2, 0.5, "Linear", "CLIP"]})
    assert response.status_code == 422 and "interrogator" in response.json()["detail"]


def test_script_generations_count_against_the_image_cap(api):
    response = api.post("/sdapi/v1/img2img", json={
        "init_images": [png_b64(init_image())], "steps": 1, "width": 64, "height": 64, "n_iter": 8,
        "script_name": "Loopback", "script_args": [16, 0.5, "Linear", "None"]})
    assert response.status_code == 422 and "image cap" in response.json()["detail"]


# -- the matched noise ----------------------------------------------------------------------------------------------
def test_histogram_matching_equals_scikit_image():
    from skimage.exposure import match_histograms as reference

    rng = np.random.default_rng(1)
    source, template = rng.random((500, 3)), rng.random((300, 3)) ** 2
    assert np.allclose(match_histograms(source, template), reference(source, template, channel_axis=1))


@pytest.mark.parametrize("color_variation", [0.05, 1.0])
def test_matched_noise_keeps_the_picture_and_fills_the_mask(color_variation):
    image = np.asarray(init_image(), dtype=np.float64) / 255.0
    mask = np.zeros_like(image)
    mask[:, 40:] = 1.0
    out = matched_noise(image, mask, 1.0, color_variation)
    assert out.shape == image.shape and np.isfinite(out).all()
    assert np.array_equal(out[:, :40], image[:, :40])
    assert abs(out[:, 40:].mean() - image[:, :40].mean()) < 0.1  # its colours follow the visible picture's
    assert np.array_equal(out, matched_noise(image, mask, 1.0, color_variation))  # fixed seed: repeatable


def test_soft_inpainting_always_on_script(api):
    from PIL import ImageDraw

    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).ellipse((16, 16, 48, 48), fill=255)
    body = {"init_images": [png_b64(init_image())], "mask": png_b64(mask), "prompt": "a cat", "steps": 3,
            "width": 64, "height": 64, "seed": 5, "denoising_strength": 0.8, "mask_blur": 8}
    hard = api.post("/sdapi/v1/img2img", json=body).json()
    soft = api.post("/sdapi/v1/img2img", json={
        **body, "alwayson_scripts": {"Soft Inpainting": {"args": [True, 1, 0.5, 4, 0, 0.5, 2]}}}).json()
    text = json.loads(soft["info"])["infotexts"][0]
    assert "Soft inpainting enabled: True" in text and "Soft inpainting preservation strength: 0.5" in text
    assert "Soft inpainting" not in json.loads(hard["info"])["infotexts"][0]
    assert soft["images"][0] != hard["images"][0]
