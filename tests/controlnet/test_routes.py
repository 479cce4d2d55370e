"""The extension's routes: version, model_list, module_list, control_types, settings, detect (each weight-free
preprocessor against the transform it is defined by), and `controlnet` among the always-on scripts."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from lib_controlnet import preprocessors
from PIL import Image

from tests.controlnet.conftest import CANNY, b64, drawing, pixels

PICTURE = drawing((96, 80))
RGB = np.asarray(PICTURE)


def detect(client, module: str, image=PICTURE, status: int = 200, **fields):
    response = client.post("/controlnet/detect", json={"controlnet_module": module,
                                                       "controlnet_input_images": [b64(image)], **fields})
    assert response.status_code == status, response.text
    return response.json()


def resized(image: np.ndarray, resolution: int) -> np.ndarray:
    """The extension's preprocessor input: shortest side to `resolution` (cubic up, area down)."""
    h, w = image.shape[:2]
    k = resolution / min(h, w)
    return cv2.resize(image, (round(w * k), round(h * k)), interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)


def test_version_settings_and_scripts(cn):
    assert cn.get("/controlnet/version").json() == {"version": 3}
    assert cn.get("/controlnet/settings").json() == {"control_net_unit_count": 3}
    scripts = cn.get("/sdapi/v1/scripts").json()
    assert "controlnet" in scripts["txt2img"] and "controlnet" in scripts["img2img"]
    info = next(s for s in cn.get("/sdapi/v1/script-info").json() if s["name"] == "controlnet")
    assert info["is_alwayson"] and len(info["args"]) == 3 and info["args"][0]["value"]["enabled"] is False


def test_model_list_names_models_as_the_extension(cn, cn_data):
    listed = cn.get("/controlnet/model_list").json()["model_list"]
    stems = [t.rsplit(" [", 1)[0] for t in listed]
    assert CANNY in stems and "control_sd15_folder" in stems and "control_sd15_diffusers_keys" in stems
    assert "ControlNetHED" not in stems  # annotator weights are not models
    assert all(len(t.rsplit("[", 1)[1]) == 9 for t in listed)  # "[" + 8 hex digits + "]"
    extra = cn_data / "models" / "ControlNet" / "control_added_later.safetensors"
    extra.write_bytes((cn_data / "models" / "ControlNet" / f"{CANNY}.safetensors").read_bytes())
    try:
        assert not any("control_added_later" in t for t in cn.get("/controlnet/model_list?update=false").json()
                       ["model_list"])
        assert any("control_added_later" in t for t in cn.get("/controlnet/model_list?update=true").json()["model_list"])
    finally:
        extra.unlink()
        cn.get("/controlnet/model_list")


def test_module_list_names_aliases_and_details(cn):
    names = cn.get("/controlnet/module_list").json()
    assert names["module_list"][0] == "none" and {"canny", "depth", "hed", "inpaint_only"} <= set(names["module_list"])
    labels = cn.get("/controlnet/module_list", params={"alias_names": True}).json()
    assert "softedge_hed" in labels["module_list"] and "depth_midas" in labels["module_list"]
    canny = names["module_detail"]["canny"]
    assert canny["model_free"] is False and canny["weight_free"] is True
    assert [s["name"] for s in canny["sliders"]] == ["Resolution", "Low Threshold", "High Threshold"]
    assert canny["sliders"][1] == {"name": "Low Threshold", "value": 100, "min": 1, "max": 255, "step": 1}
    depth = labels["module_detail"]["depth_midas"]
    assert depth["weight_free"] is False and depth["annotator"].startswith("models/ControlNet/annotator/midas/")


def test_control_types(cn):
    types = cn.get("/controlnet/control_types").json()["control_types"]
    assert {"All", "Canny", "Depth", "Inpaint", "Tile"} <= set(types)
    canny = types["Canny"]
    assert canny["module_list"][:2] == ["none", "canny"] and canny["default_option"] == "canny"
    assert canny["model_list"][0] == "None" and canny["default_model"].startswith(CANNY)
    assert types["All"]["default_model"] == "None" and len(types["All"]["model_list"]) > 4


@pytest.mark.parametrize("module, expected", [
    ("none", lambda: RGB),
    ("invert", lambda: 255 - RGB),
    ("canny", lambda: np.stack([cv2.Canny(resized(RGB, 512), 100, 200)] * 3, axis=2)),
    ("threshold", lambda: np.where(np.min(resized(RGB, 512), axis=2, keepdims=True) > 127, 255, 0).repeat(3, 2)),
    ("binary", lambda: np.where(np.min(resized(RGB, 512), axis=2, keepdims=True) > 127, 255, 0).repeat(3, 2)),
    ("blur_gaussian", lambda: cv2.GaussianBlur(resized(RGB, 512), (0, 0), 9.0)),
    ("tile_resample", lambda: RGB),  # a rate of 1: unchanged
    ("recolor_luminance", lambda: cv2.cvtColor(cv2.cvtColor(RGB, cv2.COLOR_BGR2LAB)[:, :, 0], cv2.COLOR_GRAY2RGB)),
    ("recolor_intensity", lambda: cv2.cvtColor(cv2.cvtColor(RGB, cv2.COLOR_BGR2HSV)[:, :, 2], cv2.COLOR_GRAY2RGB)),
])
def test_detect_equals_the_defining_transform(cn, module, expected):
    data = detect(cn, module)
    assert data["info"] == "Success" and len(data["images"]) == 1
    assert np.array_equal(pixels(data["images"][0]), np.asarray(expected(), dtype=np.int16))


def test_detect_sliders_and_the_other_weight_free_preprocessors(cn):
    low = pixels(detect(cn, "canny", controlnet_processor_res=64, controlnet_threshold_a=10,
                        controlnet_threshold_b=20)["images"][0])
    assert np.array_equal(low, np.stack([cv2.Canny(resized(RGB, 64), 10, 20)] * 3, axis=2))
    half = pixels(detect(cn, "tile_resample", controlnet_threshold_a=2.0)["images"][0])
    assert half.shape == (40, 48, 3)
    for module in ("scribble_xdog", "lineart_standard", "t2ia_color_grid", "shuffle"):
        out = pixels(detect(cn, module, controlnet_processor_res=128)["images"][0])
        assert out.shape[:2] == (128, 154) and out.std() > 0, module
    xdog = pixels(detect(cn, "scribble_xdog", controlnet_processor_res=128)["images"][0])
    assert set(np.unique(xdog)) <= {0, 255}
    colour = pixels(detect(cn, "color", controlnet_processor_res=128)["images"][0])
    assert len(np.unique(colour.reshape(-1, 3), axis=0)) <= 4  # a 2x2 palette grid
    shuffled = [pixels(detect(cn, "shuffle")["images"][0]) for _ in range(2)]
    assert np.array_equal(*shuffled)  # seeded: the same request gives the same map


def test_detect_inpaint_with_a_mask(cn):
    mask = Image.new("L", PICTURE.size, 0)
    mask.paste(255, (0, 0, 48, 80))
    data = detect(cn, "inpaint_only", controlnet_masks=[b64(mask)])
    out = pixels(data["images"][0])
    assert out.shape == (80, 96, 4) and (out[:, :48, 3] == 128).all() and (out[:, 48:, 3] == 255).all()


def test_detect_accepts_the_old_field_name(cn):
    response = cn.post("/controlnet/detect", json={"controlnet_module": "invert", "controlnet_images": [b64(PICTURE)]})
    assert response.status_code == 200
    assert np.array_equal(pixels(response.json()["images"][0]), 255 - RGB.astype(np.int16))


def test_detect_errors(cn):
    assert "Module not available" in detect(cn, "nope", status=422)["detail"]
    assert "needs its annotator weights" in detect(cn, "depth", status=422)["detail"]
    response = cn.post("/controlnet/detect", json={"controlnet_module": "canny", "controlnet_input_images": []})
    assert response.status_code == 422 and "No image selected" in response.json()["detail"]
    response = cn.post("/controlnet/detect", json={"controlnet_module": "canny", "controlnet_input_images": ["!!"]})
    assert response.status_code == 422 and response.json()["detail"].startswith("controlnet_input_images[0]")


def test_every_weight_free_preprocessor_is_reachable_by_name_and_label(cn):
    for spec in preprocessors.weight_free():
        for name in {spec.name, spec.label}:
            extra = {"controlnet_masks": [b64(Image.new("L", PICTURE.size, 0))]} if spec.accepts_mask else {}
            assert detect(cn, name, controlnet_processor_res=64, **extra)["info"] == "Success", name
