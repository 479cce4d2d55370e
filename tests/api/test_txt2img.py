"""txt2img through a real server: response shape, infotext, seeds, determinism, samplers."""
from __future__ import annotations

import json

import pytest

from tests.support import decode_b64_image

INFO_KEYS = [
    "prompt", "all_prompts", "negative_prompt", "all_negative_prompts", "seed", "all_seeds", "subseed",
    "all_subseeds", "subseed_strength", "width", "height", "sampler_name", "cfg_scale", "steps", "batch_size",
    "restore_faces", "face_restoration_model", "sd_model_name", "sd_model_hash", "sd_vae_name", "sd_vae_hash",
    "seed_resize_from_w", "seed_resize_from_h", "denoising_strength", "extra_generation_params",
    "index_of_first_image", "infotexts", "styles", "job_timestamp", "clip_skip", "is_using_inpainting_conditioning",
    "version",
]


def txt2img(api, **fields):
    body = {"prompt": "a cat", "steps": 4, "width": 64, "height": 64, "seed": 1234, **fields}
    response = api.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_response_shape_and_info_key_order(api):
    data = txt2img(api, negative_prompt="blurry")
    assert set(data) == {"images", "parameters", "info"}
    info = json.loads(data["info"])
    assert list(info) == INFO_KEYS
    assert info["all_seeds"] == [1234]
    assert info["sampler_name"] == "Euler"
    assert data["parameters"]["prompt"] == "a cat"
    assert data["parameters"]["steps"] == 4
    image = decode_b64_image(data["images"][0])
    assert image.format == "PNG" and image.size == (64, 64)


def test_png_carries_the_infotext_of_info(api):
    data = txt2img(api, negative_prompt="blurry", cfg_scale=5)
    info = json.loads(data["info"])
    image = decode_b64_image(data["images"][0])
    text = image.info["parameters"]
    assert text == info["infotexts"][0]
    lines = text.split("\n")
    assert lines[0] == "a cat"
    assert lines[1] == "Negative prompt: blurry"
    assert lines[2].startswith("Steps: 4, Sampler: Euler, Schedule type: Automatic, CFG scale: 5.0, Seed: 1234, "
                               "Size: 64x64, Model hash: ")
    assert "Model: tiny-a" in lines[2]


def test_png_info_parses_it_back(api):
    data = txt2img(api, prompt="a (red:1.2) fox, forest", negative_prompt="ugly")
    response = api.post("/sdapi/v1/png-info", json={"image": data["images"][0]})
    assert response.status_code == 200
    parsed = response.json()
    assert parsed["info"] == json.loads(data["info"])["infotexts"][0]
    params = parsed["parameters"]
    assert params["Prompt"] == "a (red:1.2) fox, forest"
    assert params["Negative prompt"] == "ugly"
    assert params["Seed"] == 1234 or params["Seed"] == "1234"
    assert str(params["Size-1"]) == "64" and str(params["Size-2"]) == "64"


def test_same_seed_gives_identical_bytes_and_other_seed_differs(api):
    first = txt2img(api, seed=42)["images"][0]
    second = txt2img(api, seed=42)["images"][0]
    other = txt2img(api, seed=43)["images"][0]
    assert first == second
    assert other != first


def test_batch_image_k_uses_seed_plus_k(api):
    batch = txt2img(api, seed=500, batch_size=2, n_iter=2)
    info = json.loads(batch["info"])
    assert info["all_seeds"] == [500, 501, 502, 503]
    assert len(batch["images"]) == 4
    alone = txt2img(api, seed=502)["images"][0]
    assert decode_b64_image(batch["images"][2]).tobytes() == decode_b64_image(alone).tobytes()
    assert "Seed: 503" in info["infotexts"][3]


def test_random_seed_is_reported(api):
    info = json.loads(txt2img(api, seed=-1)["info"])
    seed = info["seed"]
    assert isinstance(seed, int) and 0 <= seed < 4294967294
    assert f"Seed: {seed}," in info["infotexts"][0]


def test_subseed_strength_varies_the_noise(api):
    plain = txt2img(api, seed=7)["images"][0]
    varied = txt2img(api, seed=7, subseed=99, subseed_strength=0.5)
    info = json.loads(varied["info"])
    assert varied["images"][0] != plain
    assert info["all_seeds"] == [7] and info["all_subseeds"] == [99]
    assert "Variation seed: 99, Variation seed strength: 0.5" in info["infotexts"][0]


def sampler_names(api):
    response = api.get("/sdapi/v1/samplers")
    assert response.status_code == 200
    return [s["name"] for s in response.json()]


def test_every_listed_sampler_generates(api):
    names = sampler_names(api)
    assert {"Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM++ 2S a", "DPM++ 2M", "DPM++ SDE",
            "DPM++ 2M SDE", "DDIM", "PLMS", "UniPC", "LCM"} <= set(names)
    outputs = {}
    for name in names:
        data = txt2img(api, sampler_name=name, steps=3)
        assert json.loads(data["info"])["sampler_name"] == name
        outputs[name] = data["images"][0]
    assert len(set(outputs.values())) > len(names) // 2


@pytest.mark.parametrize("given, sampler, schedule", [
    ("DPM++ 2M Karras", "DPM++ 2M", "Karras"),
    ("k_euler_a", "Euler a", "Automatic"),
    ("Euler", "Euler", "Automatic"),
])
def test_sampler_aliases_and_scheduler_suffix(api, given, sampler, schedule):
    info = json.loads(txt2img(api, sampler_name=given, steps=3)["info"])
    assert info["sampler_name"] == sampler
    assert f"Sampler: {sampler}, Schedule type: {schedule}," in info["infotexts"][0]


def test_scheduler_field_changes_the_schedule(api):
    karras = txt2img(api, sampler_name="Euler", scheduler="Karras", steps=4)
    plain = txt2img(api, sampler_name="Euler", steps=4)
    assert karras["images"][0] != plain["images"][0]
    assert "Schedule type: Karras" in json.loads(karras["info"])["infotexts"][0]


def test_sampler_index_is_used_when_sampler_name_is_absent(api):
    info = json.loads(txt2img(api, sampler_index="DDIM", steps=3)["info"])
    assert info["sampler_name"] == "DDIM"


def test_unknown_sampler_is_422_listing_valid_names(api):
    response = api.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 2, "width": 64, "height": 64,
                                                    "sampler_name": "Bogus"})
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"error", "detail", "body", "errors"}
    assert "sampler_name" in body["detail"] and "Euler a" in body["detail"]


def test_unknown_fields_are_ignored_and_send_images_false(api):
    data = txt2img(api, some_unknown_key={"x": 1}, send_images=False)
    assert data["images"] == []
    assert json.loads(data["info"])["all_seeds"] == [1234]


@pytest.mark.parametrize("fmt, pil_format", [("jpg", "JPEG"), ("webp", "WEBP")])
def test_samples_format_jpg_and_webp_carry_infotext(api, fmt, pil_format):
    data = txt2img(api, override_settings={"samples_format": fmt})
    image = decode_b64_image(data["images"][0])
    assert image.format == pil_format
    parsed = api.post("/sdapi/v1/png-info", json={"image": data["images"][0]}).json()
    assert parsed["info"] == json.loads(data["info"])["infotexts"][0]
    # restored afterwards
    assert decode_b64_image(txt2img(api)["images"][0]).format == "PNG"


def test_tiling_changes_output_and_infotext(api):
    tiled = txt2img(api, tiling=True)
    assert tiled["images"][0] != txt2img(api)["images"][0]
    assert "Tiling: True" in json.loads(tiled["info"])["infotexts"][0]
