"""ControlNet generations through the API: the invariants (weight 0 and an empty guidance window change nothing;
weight, units, windows, modes and hires options change the latents), the outputs (detected maps, infotext) and
txt2img, img2img, inpainting, hires, batches and SDXL. Pixel differences, not pictures, are compared."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.controlnet.conftest import CANNY, b64, drawing, error, generate, pixels, unit


@pytest.fixture(scope="module")
def plain(cn_server):
    with cn_server.client() as client:
        return pixels(generate(client)["images"][0])


def first(data) -> np.ndarray:
    return pixels(data["images"][0])


def test_weight_zero_and_an_empty_guidance_window_reproduce_the_plain_image_exactly(cn, plain):
    assert np.array_equal(first(generate(cn, [unit(weight=0)])), plain)
    assert np.array_equal(first(generate(cn, [unit(guidance_start=1.0, guidance_end=1.0)])), plain)
    assert np.array_equal(first(generate(cn, [unit(model="None")])), plain)  # "None" disables the unit
    assert np.array_equal(first(generate(cn, [unit(enabled=False)])), plain)
    assert np.array_equal(first(generate(cn, [])), plain)  # an empty list is off


def test_weight_one_changes_the_image_and_weights_scale_the_change(cn, plain):
    half, full = first(generate(cn, [unit(weight=0.5)])), first(generate(cn, [unit(weight=1.0)]))
    assert np.abs(full - plain).max() > 0
    assert np.abs(full - plain).mean() > np.abs(half - plain).mean() > 0


def test_two_units_differ_from_one(cn):
    one = first(generate(cn, [unit()]))
    two = first(generate(cn, [unit(), unit(model="control_v11f1p_sd15_depth", module="invert")]))
    assert np.abs(two - one).max() > 0
    weighted = first(generate(cn, [unit(), unit(model="control_v11f1p_sd15_depth", module="invert", weight=0.3)]))
    assert np.abs(weighted - two).max() > 0  # per-unit weights


def test_the_guidance_window_chooses_the_steps(cn):
    # 10 steps: the unit sees sampling_step / 10 = 0, 0, 0.1, ..., 0.8 (A1111's last reported step)
    plain10 = first(generate(cn, steps=10))
    whole = first(generate(cn, [unit()], steps=10))
    early = first(generate(cn, [unit(guidance_end=0.3)], steps=10))
    late = first(generate(cn, [unit(guidance_start=0.6)], steps=10))
    for a, b in ((whole, early), (whole, late), (early, late), (late, plain10), (early, plain10)):
        assert np.abs(a - b).max() > 0
    assert np.array_equal(first(generate(cn, [unit(guidance_start=0.85)], steps=10)), plain10)  # never reached


def test_each_control_mode_has_its_own_effect(cn):
    results = [first(generate(cn, [unit(control_mode=mode)])) for mode in
               ("Balanced", "My prompt is more important", "ControlNet is more important")]
    assert all(np.abs(a - b).max() > 0 for i, a in enumerate(results) for b in results[i + 1:])
    assert np.array_equal(first(generate(cn, [unit(control_mode=2)])), results[2])  # the old int spelling


@pytest.mark.parametrize("key", ["ControlNet", "controlNet", "CONTROLNET"])
def test_the_script_key_is_case_insensitive(cn, key):
    reference = first(generate(cn, [unit()]))
    assert np.array_equal(first(generate(cn, [unit()], key=key)), reference)


def test_detected_maps_follow_the_images_and_the_infotext_names_each_unit(cn):
    data = generate(cn, [unit(), unit(model="control_v11f1p_sd15_depth", module="invert")], batch_size=2, n_iter=2)
    info = data["info_json"]
    assert len(info["all_seeds"]) == 4 and len(info["infotexts"]) == 4 and info["index_of_first_image"] == 0
    assert len(data["images"]) == 4 + 2  # the generated images, then one map per unit
    canny_map = pixels(data["images"][4])
    assert canny_map.shape == (64, 64, 3) and set(np.unique(canny_map)) <= {0, 255}
    text = info["infotexts"][0]
    assert ('ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [' in text
            and 'Weight: 1.0, Resize Mode: Crop and Resize, Processor Res: 512, Threshold A: 100.0, Threshold B: '
                '200.0, Guidance Start: 0.0, Guidance End: 1.0, Pixel Perfect: False, Control Mode: Balanced"' in text)
    assert 'ControlNet 1: "Module: invert, Model: control_v11f1p_sd15_depth [' in text


def test_maps_can_be_left_out(cn):
    assert len(generate(cn, [unit(save_detected_map=False)])["images"]) == 1
    data = generate(cn, [unit()], override_settings={"control_net_no_detectmap": True})
    assert len(data["images"]) == 1


def test_model_names_select_models(cn, cn_server):
    titles = cn.get("/controlnet/model_list").json()["model_list"]
    title = next(t for t in titles if t.startswith(CANNY))
    reference = first(generate(cn, [unit()]))
    short_hash = title.rsplit("[", 1)[1].rstrip("]")
    for name in (title, f"{CANNY}.safetensors", short_hash, CANNY.upper()):
        assert np.array_equal(first(generate(cn, [unit(model=name)])), reference), name
    body = error(cn, [unit(model="control_missing")], status=404)
    assert body["detail"].startswith("alwayson_scripts.controlnet.args[0].model: ControlNet model 'control_missing'")


@pytest.mark.parametrize("model", ["control_v11f1p_sd15_depth", "control_sd15_diffusers_keys", "control_sd15_folder",
                                   "control_v11e_sd15_shuffle"])
def test_every_file_layout_generates(cn, plain, model):
    assert np.abs(first(generate(cn, [unit(model=model)])) - plain).max() > 0


def test_pixel_perfect_uses_the_target_resolution(cn):
    wide = b64(drawing((256, 128)))
    normal = generate(cn, [unit(image=wide)])
    perfect = generate(cn, [unit(image=wide, pixel_perfect=True)])
    assert "Pixel Perfect: True" in perfect["info_json"]["infotexts"][0]
    assert np.abs(pixels(perfect["images"][1]) - pixels(normal["images"][1])).max() > 0  # another canny resolution


def test_resize_modes_fit_the_map_differently(cn):
    wide = b64(drawing((128, 64)))
    maps = {mode: pixels(generate(cn, [unit(image=wide, module="none", resize_mode=mode)])["images"][1])
            for mode in ("Just Resize", "Crop and Resize", "Resize and Fill")}
    assert all(m.shape == (64, 64, 3) for m in maps.values())
    assert np.abs(maps["Just Resize"] - maps["Crop and Resize"]).max() > 0
    fill = maps["Resize and Fill"]
    assert (fill[:10] == 255).all()  # the letterbox is filled with the map's (white) border colour
    legacy = pixels(generate(cn, [unit(image=wide, module="none", resize_mode="Inner Fit (Scale to Fit)")])["images"][1])
    assert np.array_equal(legacy, maps["Crop and Resize"])
    assert np.array_equal(pixels(generate(cn, [unit(image=wide, module="none", resize_mode=2)])["images"][1]), fill)


def test_hires_fix_gets_its_own_map_and_hr_option_chooses_the_passes(cn):
    hires = {"enable_hr": True, "hr_scale": 2, "hr_upscaler": "Latent", "denoising_strength": 0.6,
             "hr_second_pass_steps": 3}
    plain_hr = first(generate(cn, **hires))
    results = {}
    for option in ("Both", "Low res only", "High res only"):
        data = generate(cn, [unit(hr_option=option)], **hires)
        assert len(data["images"]) == 3  # the image, then the hires-size map and the first-pass map
        assert pixels(data["images"][1]).shape == (128, 128, 3) and pixels(data["images"][2]).shape == (64, 64, 3)
        results[option] = first(data)
    assert all(np.abs(r - plain_hr).max() > 0 for r in results.values())
    assert np.abs(results["Low res only"] - results["High res only"]).max() > 0
    assert np.abs(results["Both"] - results["Low res only"]).max() > 0


def test_img2img_uses_the_init_image_and_inpainting_keeps_the_mask(cn):
    init = drawing()
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))  # repaint the left half
    body = {"init_images": [b64(init)], "denoising_strength": 0.8}
    plain = first(generate(cn, mode="img2img", **body))
    with_init = generate(cn, [{"enabled": True, "module": "canny", "model": CANNY}], mode="img2img", **body)
    assert np.abs(first(with_init) - plain).max() > 0  # no unit image: the init image is the control image
    inpaint = generate(cn, [{"enabled": True, "module": "inpaint_only", "model": CANNY}], mode="img2img",
                       mask=b64(mask), mask_blur=0, **body)
    control_map = pixels(inpaint["images"][1])
    assert control_map.shape == (64, 64, 4)  # inpaint maps carry the mask (half transparent where masked)
    assert (control_map[:, :32, 3] == 128).all() and (control_map[:, 40:, 3] == 255).all()
    result = first(inpaint)
    original = np.asarray(init, dtype=np.int16)
    assert np.array_equal(result[:, 40:], original[:, 40:])  # outside the mask the picture is kept
    assert np.abs(result[:, :24] - original[:, :24]).max() > 0


def test_inpaint_only_in_txt2img_keeps_the_unmasked_control_image(cn):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    data = generate(cn, [unit(module="inpaint_only", image={"image": b64(drawing()), "mask": b64(mask)})])
    result, original = first(data), np.asarray(drawing(), dtype=np.int16)
    assert np.abs(result[:, 56:] - original[:, 56:]).max() <= 1  # blended back outside the (dilated) mask
    assert np.abs(result[:, :24] - original[:, :24]).max() > 0


def test_sdxl_controlnet_on_an_sdxl_checkpoint(cn):
    xl = {"override_settings": {"sd_model_checkpoint": "tiny8-xl"}}
    plain_xl = first(generate(cn, **xl))
    controlled = generate(cn, [unit(model="diffusers_xl_canny_tiny")], **xl)
    assert np.abs(first(controlled) - plain_xl).max() > 0
    assert np.array_equal(first(generate(cn, [unit(model="diffusers_xl_canny_tiny", weight=0)], **xl)), plain_xl)
    body = error(cn, [unit()], **xl)  # an SD1.5 ControlNet on an SDXL checkpoint
    assert "is for SD1.x, the checkpoint is SDXL" in body["detail"]
    assert body["detail"].startswith("alwayson_scripts.controlnet.args[0].model")
