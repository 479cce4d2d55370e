"""The payloads of A1111 1.10's own test/ folder (ref a1111-api.md §9) against a real server, plus hires fix,
tiling seamlessness and restore_faces without a face restorer."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.support import decode_b64_image, png_b64

EMPHASIS = "((emphasis)), (emphasis1:1.1), [to:1], [from::2], [from:to:0.3], [alt|alt1]"


def _init_image(size: int = 64) -> str:
    rng = np.random.RandomState(0)
    arr = rng.randint(0, 255, (size, size, 3), dtype=np.uint8)
    return "data:image/png;base64," + png_b64(Image.fromarray(arr))


def _mask_image(size: int = 64) -> str:
    mask = Image.new("RGB", (size, size), "black")
    ImageDraw.Draw(mask).rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill="white")
    return "data:image/png;base64," + png_b64(mask)


def txt2img_payload() -> dict:
    """A1111 test/test_txt2img.py `simple_txt2img_request`."""
    return {"batch_size": 1, "cfg_scale": 7, "denoising_strength": 0, "enable_hr": False, "eta": 0,
            "firstphase_height": 0, "firstphase_width": 0, "height": 64, "n_iter": 1, "negative_prompt": "",
            "prompt": "example prompt", "restore_faces": False, "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0,
            "sampler_index": "Euler a", "seed": -1, "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 3,
            "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64}


def img2img_payload() -> dict:
    """A1111 test/test_img2img.py `simple_img2img_request`."""
    return {"batch_size": 1, "cfg_scale": 7, "denoising_strength": 0.75, "eta": 0, "height": 64,
            "include_init_images": False, "init_images": [_init_image()], "inpaint_full_res": False,
            "inpaint_full_res_padding": 0, "inpainting_fill": 0, "inpainting_mask_invert": False, "mask": None,
            "mask_blur": 4, "n_iter": 1, "negative_prompt": "", "override_settings": {}, "prompt": "example prompt",
            "resize_mode": 0, "restore_faces": False, "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0,
            "sampler_index": "Euler a", "seed": -1, "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 3,
            "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64}


def post_ok(api, path: str, body: dict) -> dict:
    response = api.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("change", [
    {},
    {"negative_prompt": "example negative prompt"},
    {"prompt": EMPHASIS},
    {"height": 128},
    {"enable_hr": True},
    {"tiling": True},
    {"restore_faces": True},
    {"sampler_index": "PLMS"},
    {"sampler_index": "DDIM"},
    {"sampler_index": "UniPC"},
    {"n_iter": 2},
    {"batch_size": 2},
], ids=lambda c: ",".join(c) or "simple")
def test_txt2img_payloads(api, change):
    data = post_ok(api, "/sdapi/v1/txt2img", {**txt2img_payload(), **change})
    assert len(data["images"]) == change.get("n_iter", 1) * change.get("batch_size", 1)


@pytest.mark.parametrize("change", [
    {},
    {"mask": _mask_image()},
    {"mask": _mask_image(), "inpainting_mask_invert": True},
    {"script_name": "sd upscale", "script_args": ["", 8, "Lanczos", 2.0], "init_images": [_init_image(48)]},
], ids=["simple", "mask", "inverted_mask", "sd_upscale"])
def test_img2img_payloads(api, change):
    data = post_ok(api, "/sdapi/v1/img2img", {**img2img_payload(), **change})
    assert len(data["images"]) == 1


@pytest.mark.parametrize("body", [
    {"codeformer_visibility": 0, "codeformer_weight": 0, "gfpgan_visibility": 0, "resize_mode": 0,
     "show_extras_results": True, "upscaler_1": "Lanczos", "upscaler_2": "None", "extras_upscaler_2_visibility": 0,
     "upscaling_crop": True, "upscaling_resize": 2, "upscaling_resize_h": 128, "upscaling_resize_w": 128},
    {},  # test_extras.py "png_info" posts {image} to extra-single-image
    {"model": "clip"},  # ... and "interrogate" {image, model}
], ids=["extras", "png_info_copy_paste", "interrogate_copy_paste"])
def test_extras_payloads(api, body):
    data = post_ok(api, "/sdapi/v1/extra-single-image", {**body, "image": _init_image()})
    assert data["image"]


@pytest.mark.parametrize("path", ["cmd-flags", "samplers", "upscalers", "sd-models", "hypernetworks",
                                  "face-restorers", "realesrgan-models", "prompt-styles", "embeddings"])
def test_utils_get_routes(api, path):
    assert api.get(f"/sdapi/v1/{path}").status_code == 200


def test_send_seed_flip_is_persisted_and_restored(api):
    original = api.get("/sdapi/v1/options").json()["send_seed"]
    assert isinstance(original, bool)
    try:
        assert api.post("/sdapi/v1/options", json={"send_seed": not original}).status_code == 200
        assert api.get("/sdapi/v1/options").json()["send_seed"] is (not original)
    finally:
        api.post("/sdapi/v1/options", json={"send_seed": original})
    assert api.get("/sdapi/v1/options").json()["send_seed"] is original


# -- hires fix ---------------------------------------------------------------------------------------------------

def _txt2img(api, **fields) -> tuple[dict, list[Image.Image], dict]:
    body = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 11, **fields}
    data = post_ok(api, "/sdapi/v1/txt2img", body)
    return data, [decode_b64_image(i) for i in data["images"]], json.loads(data["info"])


def test_hires_latent_scale_size_and_infotext(api):
    _, images, info = _txt2img(api, enable_hr=True, hr_scale=1.5, denoising_strength=0.5, hr_second_pass_steps=1)
    assert images[0].size == (96, 96)
    assert (info["width"], info["height"]) == (64, 64)  # A1111: info and "Size" keep the first-pass size
    text = info["infotexts"][0].split("\n")[-1]
    assert "Size: 64x64" in text
    assert "Denoising strength: 0.5, RNG: CPU, Hires upscale: 1.5, Hires steps: 1, Version" in text
    assert "Hires upscaler" not in text and "Hires prompt" not in text and "Hires sampler" not in text


def test_hires_image_upscaler_resize_sampler_and_prompt(api):
    _, images, info = _txt2img(api, enable_hr=True, hr_resize_x=128, hr_resize_y=96, hr_upscaler="Lanczos",
                               hr_sampler_name="DDIM", hr_prompt="a dog", hr_negative_prompt="blurry")
    assert images[0].size == (128, 96)
    text = info["infotexts"][0]
    assert "Denoising strength: 0.7" in text  # null denoising_strength: the A1111 UI default
    assert ("Hires sampler: DDIM, Hires prompt: a dog, Hires negative prompt: blurry, Hires resize: 128x96, "
            "Hires upscaler: Lanczos") in text
    plain = _txt2img(api)[1][0]
    assert plain.size == (64, 64)


def test_hires_differs_from_plain_upscale_and_validates(api):
    hr = _txt2img(api, enable_hr=True, hr_upscaler="Latent (nearest-exact)", denoising_strength=0.6)[1][0]
    no_denoise = _txt2img(api, enable_hr=True, hr_upscaler="Latent (nearest-exact)", denoising_strength=0)[1][0]
    assert hr.size == no_denoise.size == (128, 128)
    assert hr.tobytes() != no_denoise.tobytes()
    bad = api.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 1, "width": 64, "height": 64,
                                              "enable_hr": True, "hr_upscaler": "Bogus"})
    assert bad.status_code == 422
    assert "hr_upscaler" in bad.json()["detail"] and "Latent (bicubic)" in bad.json()["detail"]
    assert api.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 1, "width": 64, "height": 64,
                                               "enable_hr": True, "hr_scale": 0.5}).status_code == 422
    # hires fields are ignored while enable_hr is off, as in A1111
    assert api.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 1, "width": 64, "height": 64,
                                               "hr_upscaler": "Bogus"}).status_code == 200


# -- tiling and face restoration ---------------------------------------------------------------------------------

def _wrap_correlation(image: Image.Image) -> float:
    """Mean correlation between opposite borders (left/right columns, top/bottom rows): how well it tiles."""
    a = np.asarray(image, dtype=np.float32).mean(axis=2)
    return float((np.corrcoef(a[:, 0], a[:, -1])[0, 1] + np.corrcoef(a[0], a[-1])[0, 1]) / 2)


def test_tiling_makes_opposite_edges_match(api):
    body = {"steps": 3, "batch_size": 3, "seed": 3}
    tiled = np.mean([_wrap_correlation(i) for i in _txt2img(api, tiling=True, **body)[1]])
    plain = np.mean([_wrap_correlation(i) for i in _txt2img(api, tiling=False, **body)[1]])
    assert tiled > plain + 0.1, (tiled, plain)


def test_restore_faces_without_a_restorer_says_so(api):
    _, _, info = _txt2img(api, restore_faces=True)
    assert info["restore_faces"] is True
    assert info["extra_generation_params"]["Face restoration"] == "none installed"
    assert "Face restoration: none installed, Size: 64x64" in info["infotexts"][0]
