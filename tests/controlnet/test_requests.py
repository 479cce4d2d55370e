"""Every spelling of a unit the API accepts, and a 422 naming `alwayson_scripts.controlnet.args[i].<field>`
for each bad value, before anything is queued."""
from __future__ import annotations

import numpy as np
import pytest
from lib_controlnet.units import parse_unit
from PIL import Image

from modules.errors import InvalidRequestError
from tests.controlnet.conftest import b64, drawing, error, generate, pixels, unit

IMAGE = b64(drawing())


@pytest.fixture(scope="module")
def reference(cn_server):
    with cn_server.client() as client:
        return pixels(generate(client, [unit()])["images"][0])


@pytest.mark.parametrize("spelling", [
    {"image": "data:image/png;base64," + IMAGE},
    {"image": {"image": IMAGE, "mask": None}},
    {"image": [IMAGE, None]},
    {"image": [{"image": IMAGE}]},
    {"image": None, "input_image": IMAGE},  # legacy alias
    {"lowvram": True, "low_vram": None},
    {"guidance": 1.0},
    {"resize_mode": 1}, {"resize_mode": "Inner Fit (Scale to Fit)"}, {"control_mode": 0},
    {"processor_res": -1, "threshold_a": -1, "threshold_b": -1},  # the slider defaults
    {"processor_res": 512, "threshold_a": 100, "threshold_b": 200},
    {"input_mode": "simple", "batch_images": "", "output_dir": "", "loopback": False, "is_ui": False},
    {"hr_option": "Both", "save_detected_map": True, "inpaint_crop_input_image": True},
    {"unknown_field": 1, "pulid_mode": "Fidelity"},  # ignored
])
def test_spellings_of_the_same_unit(cn, reference, spelling):
    assert np.array_equal(pixels(generate(cn, [unit(**spelling)])["images"][0]), reference)


def test_a_mask_on_a_non_inpaint_unit_is_a_scribble(cn, reference):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (20, 20, 44, 44))
    scribbled = generate(cn, [unit(image={"image": IMAGE, "mask": b64(mask)}, module="none")])
    control_map = pixels(scribbled["images"][1])
    assert control_map[32, 32].tolist() == [255, 255, 255] and control_map[5, 5].tolist() == [0, 0, 0]
    assert np.array_equal(pixels(generate(cn, [unit(mask_image=b64(mask), module="none")])["images"][1]), control_map)


@pytest.mark.parametrize("field, value, where", [
    ("weight", 2.5, "weight"), ("weight", "1", "weight"), ("guidance_start", -0.1, "guidance_start"),
    ("guidance_end", 1.5, "guidance_end"), ("enabled", "yes", "enabled"), ("pixel_perfect", 1, "pixel_perfect"),
    ("resize_mode", "Stretch", "resize_mode"), ("resize_mode", 9, "resize_mode"),
    ("control_mode", "Loud", "control_mode"), ("control_mode", 3, "control_mode"), ("hr_option", 1, "hr_option"),
    ("hr_option", "Sometimes", "hr_option"), ("input_mode", "folder", "input_mode"), ("module", 3, "module"),
    ("module", "no_such_module", "module"), ("model", 7, "model"), ("processor_res", "big", "processor_res"),
    ("threshold_a", float("nan"), "threshold_a"), ("image", "not base64!", "image"), ("image", 5, "image"),
    ("image", {"mask": IMAGE}, "image"), ("advanced_weighting", [], "advanced_weighting"),
    ("image_link", "", "image_link"), ("mask", 5, "mask"),
])
def test_bad_values_are_422_naming_the_field(cn, field, value, where):
    if field == "threshold_a":  # JSON has no NaN: checked on the parser
        with pytest.raises(InvalidRequestError) as info:
            parse_unit(unit(threshold_a=value), 0)
        assert info.value.field == "alwayson_scripts.controlnet.args[0].threshold_a"
        return
    body = error(cn, [unit(), unit(**{field: value})])
    assert body["detail"].startswith(f"alwayson_scripts.controlnet.args[1].{where}"), body["detail"]


def test_cross_field_rules(cn):
    body = error(cn, [unit(guidance_start=0.8, guidance_end=0.2)])
    assert "guidance_start (0.8) is after guidance_end (0.2)" in body["detail"]
    assert "give either" in error(cn, [unit(guidance=0.5, guidance_end=0.6)])["detail"]
    small = Image.new("L", (16, 16), 255)
    assert "mask size 16x16 differs" in error(cn, [unit(image={"image": IMAGE, "mask": b64(small)})])["detail"]
    assert "no input image" in error(cn, [unit(image=None)])["detail"]  # txt2img has no init image to fall back on
    assert "batch folders in the WebUI only" in error(cn, [unit(image=None, input_mode="batch")])["detail"]


def test_learned_preprocessors_name_their_weights(cn):
    body = error(cn, [unit(module="depth")])
    assert "needs its annotator weights in models/ControlNet/annotator/midas/" in body["detail"]
    body = error(cn, [unit(module="softedge_hed")])  # by label; the weights file exists here, the network does not
    assert "not available in Easel yet" in body["detail"] and body["detail"].endswith('module "none"')


def test_advanced_weighting_is_checked_against_the_model(cn, reference):
    data = generate(cn, [unit(advanced_weighting=[1.0] * 7)])  # the tiny SD1 ControlNet has 6 + 1 outputs
    assert np.array_equal(pixels(data["images"][0]), reference)
    body = error(cn, [unit(advanced_weighting=[1.0] * 13)])
    assert body["detail"].startswith("alwayson_scripts.controlnet.args[0].advanced_weighting: this model takes 7")


def test_args_must_be_a_list_of_units(cn):
    body = cn.post("/sdapi/v1/txt2img", json={"prompt": "x", "alwayson_scripts": {"controlnet": {"args": "no"}}})
    assert body.status_code == 422
    body = error(cn, ["not a unit"])
    assert body["detail"].startswith("alwayson_scripts.controlnet.args[0]: expected a unit object")


def test_nothing_is_queued_for_a_bad_unit(cn, cn_server):
    before = len(cn_server.services.task_store.list(limit=1000))
    error(cn, [unit(weight=9)])
    error(cn, [unit(model="control_missing")], status=404)
    assert len(cn_server.services.task_store.list(limit=1000)) == before


def test_several_images_need_merge_mode(cn, reference):
    other = b64(drawing((64, 48)))
    body = error(cn, [unit(image=[{"image": IMAGE}, {"image": other}])])
    assert "2 images for one unit" in body["detail"] and body["detail"].startswith(
        "alwayson_scripts.controlnet.args[0].image")
    merged = generate(cn, [unit(image=[{"image": IMAGE}, {"image": other}], input_mode="merge")])
    assert len(merged["images"]) == 3  # the image and one map per merged image
    assert np.abs(pixels(merged["images"][1]) - pixels(merged["images"][2])).max() > 0  # each image was used
    same = generate(cn, [unit(image=[{"image": IMAGE}, {"image": IMAGE}], input_mode="merge")])
    assert np.abs(pixels(same["images"][0]) - reference).max() <= 1  # two halves of one image: the same residuals
