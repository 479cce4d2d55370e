"""The built-in selectable scripts (root scripts/) through a real server: output counts, order and infotext."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from tests.support import decode_b64_image, png_b64


def run_script(api, name: str, args: list, mode: str = "txt2img", **fields) -> tuple[list[Image.Image], dict]:
    body = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 21, "script_name": name,
            "script_args": args, **fields}
    response = api.post(f"/sdapi/v1/{mode}", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    return [decode_b64_image(i) for i in data["images"]], json.loads(data["info"])


def test_scripts_are_listed(api):
    listed = api.get("/sdapi/v1/scripts").json()
    for name in ("prompt matrix", "prompts from file or textbox", "x/y/z plot"):
        assert name in listed["txt2img"] and name in listed["img2img"]
    assert "sd upscale" in listed["img2img"] and "sd upscale" not in listed["txt2img"]


def test_sd_upscale_tiles_and_blends(api):
    init = Image.fromarray(np.random.RandomState(1).randint(0, 255, (48, 48, 3), dtype=np.uint8))
    images, info = run_script(api, "SD upscale", ["", 16, 1, 2.0], mode="img2img", init_images=[png_b64(init)],
                              n_iter=2)
    assert [i.size for i in images] == [(96, 96), (96, 96)]  # one upscale per n_iter; upscaler 1 = "Lanczos"
    assert images[0].tobytes() != images[1].tobytes()
    assert "SD upscale overlap: 16, SD upscale upscaler: Lanczos" in info["infotexts"][0]
    bad = api.post("/sdapi/v1/img2img", json={"init_images": [png_b64(init)], "steps": 1, "width": 64, "height": 64,
                                              "script_name": "sd upscale", "script_args": ["", 8, "Bogus", 2]})
    assert bad.status_code == 422 and "Lanczos" in bad.json()["detail"]


def test_prompt_matrix_grid_then_combinations(api):
    images, info = run_script(api, "Prompt matrix", [False, False, "positive", "comma", 0],
                              prompt="a cat|red|blue")
    assert len(images) == 5  # grid (2 rows of 2, labelled: tests/api/test_grids.py) + 4 combinations
    assert images[0].width > 128 and images[0].height > 128
    assert info["index_of_first_image"] == 1
    assert info["all_prompts"] == ["a cat", "a cat, red", "a cat, blue", "a cat, red, blue"]
    assert info["all_seeds"] == [21, 21, 21, 21]
    assert len(info["infotexts"]) == 5 and info["infotexts"][0] == info["infotexts"][1]
    assert info["infotexts"][4].startswith("a cat, red, blue\n")


def test_prompts_from_textbox_with_options(api):
    text = 'a dog\n\n--prompt "a red bird" --steps 1 --seed 7 --negative_prompt ugly\n--bogus x'
    images, info = run_script(api, "Prompts from file or textbox", [False, False, "start", text], prompt="")
    assert len(images) == 3
    assert info["all_prompts"] == ["a dog", "a red bird", "--bogus x"]  # an unparsable line is a plain prompt
    assert info["infotexts"][1] == ("a red bird\nNegative prompt: ugly\n" + info["infotexts"][1].split("\n")[2])
    assert "Steps: 1," in info["infotexts"][1] and "Seed: 7," in info["infotexts"][1]


def test_xyz_seed_by_steps_grid_only_then_with_images(api):
    args = [1, "1-2", [], 4, "1, 2", [], 0, "", []]
    images, info = run_script(api, "X/Y/Z plot", args)
    assert len(images) == 1 and images[0].width > 128  # A1111 default: the grid only, with its legend
    assert ('Script: X/Y/Z plot, X Type: Seed, X Values: 1-2, Fixed X Values: "1, 2", Y Type: Steps, '
            'Y Values: "1, 2"') in info["infotexts"][0]
    images, info = run_script(api, "X/Y/Z plot", args + [True, True])  # draw_legend, include_lone_images
    assert len(images) == 5 and info["index_of_first_image"] == 1
    cells = info["infotexts"][1:]
    assert ["Seed: 1," in t and "Steps: 1," in t for t in cells][0]
    assert "Seed: 2," in cells[1] and "Steps: 2," in cells[2] and "Script:" not in cells[0]


def test_xyz_checkpoint_axis_switches_models(api):
    images, info = run_script(api, "X/Y/Z plot", ["Checkpoint name", "tiny-a, tiny-b", [], 0, "", [], 0, "", [],
                                                  True, True], steps=1)
    assert len(images) == 3
    assert "Model: tiny-a" in info["infotexts"][1] and "Model: tiny-b" in info["infotexts"][2]
    assert images[1].tobytes() != images[2].tobytes()


def test_xyz_rejects_unknown_values(api):
    for args in (["Sampler", "Euler, Bogus", []], ["FP8 mode", "Enable", []], [99, "1", []]):
        response = api.post("/sdapi/v1/txt2img", json={"prompt": "a", "steps": 1, "width": 64, "height": 64,
                                                       "script_name": "x/y/z plot", "script_args": args})
        assert response.status_code == 422, response.text
