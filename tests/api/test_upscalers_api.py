"""Model upscalers and face restoration through a real server: listings, Extras, hires fix with an ESRGAN
upscaler, SD upscale, the X/Y/Z plot, restore_faces, refresh and the A1111 folder flags."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from tests.sr_support import write_codeformer, write_esrgan, write_gfpgan
from tests.support import EaselServer, decode_b64_image, make_data_dir, png_b64


@pytest.fixture(scope="module")
def sr_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("sr-api")
    data_dir = make_data_dir(root / "data")
    models = data_dir / "models"
    write_esrgan(models / "ESRGAN" / "tiny-x4.safetensors", scale=4, seed=1)
    write_esrgan(models / "RealESRGAN" / "RealESRGAN_x2plus.pth", scale=2, seed=2)
    (models / "ESRGAN" / "not-a-model.pth").write_bytes(b"junk")
    write_esrgan(root / "flag-dir" / "from-flag.pth", scale=2, seed=3)
    write_gfpgan(models / "GFPGAN" / "GFPGANv1.4.pth")
    write_codeformer(root / "codeformer-flag" / "codeformer.pth")
    server = EaselServer(data_dir, "--esrgan-models-path", str(root / "flag-dir"),
                         "--codeformer-models-path", str(root / "codeformer-flag")).start()
    yield server
    server.stop()


@pytest.fixture()
def sr_api(sr_server):
    with sr_server.client(timeout=300) as client:
        yield client


def _txt2img(client, **fields) -> tuple[list[Image.Image], dict]:
    body = {"prompt": "a portrait", "steps": 2, "width": 64, "height": 64, "seed": 5, **fields}
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    return [decode_b64_image(i) for i in result["images"]], json.loads(result["info"])


def test_listings_show_real_scales_and_skip_unreadable_files(sr_api, sr_server, tmp_path):
    upscalers = {u["name"]: u for u in sr_api.get("/sdapi/v1/upscalers").json()}
    assert list(upscalers)[:3] == ["None", "Lanczos", "Nearest"]
    assert upscalers["tiny-x4"]["scale"] == 4.0 and upscalers["tiny-x4"]["model_path"].endswith("tiny-x4.safetensors")
    assert upscalers["R-ESRGAN 2x+"]["scale"] == 2.0 and upscalers["R-ESRGAN 2x+"]["model_name"] == "RealESRGAN"
    assert upscalers["from-flag"]["scale"] == 2.0  # --esrgan-models-path
    assert "not-a-model" not in upscalers and "GFPGANv1.4" not in upscalers
    assert sr_server.log().count("not-a-model.pth") == 1  # logged once, however often the folders are rescanned
    real = sr_api.get("/sdapi/v1/realesrgan-models").json()
    assert [(m["name"], m["scale"]) for m in real] == [("R-ESRGAN 2x+", 2)]
    restorers = sr_api.get("/sdapi/v1/face-restorers").json()
    assert [r["name"] for r in restorers] == ["CodeFormer", "GFPGAN"]
    assert restorers[0]["cmd_dir"].endswith("codeformer-flag") and restorers[1]["cmd_dir"].endswith("GFPGAN")


def test_files_added_later_are_listed(sr_api, sr_server):
    added = sr_server.data_dir / "models" / "HAT" / "added-x2.safetensors"
    write_esrgan(added, scale=2, seed=7)  # an ESRGAN in models/HAT: the folder does not decide the architecture
    try:
        names = [u["name"] for u in sr_api.get("/sdapi/v1/upscalers").json()]
        assert "added-x2" in names
        response = sr_api.post("/sdapi/v1/extra-single-image", json={
            "image": png_b64(Image.new("RGB", (24, 16), (9, 99, 199))), "upscaler_1": "added-x2"})
        assert response.status_code == 200 and decode_b64_image(response.json()["image"]).size == (48, 32)
    finally:
        added.unlink()
    assert sr_api.post("/sdapi/v1/refresh-upscalers").status_code == 200
    assert "added-x2" not in [u["name"] for u in sr_api.get("/sdapi/v1/upscalers").json()]


def test_extras_with_model_upscalers(sr_api):
    source = Image.fromarray(np.random.RandomState(0).randint(0, 255, (40, 56, 3), dtype=np.uint8))
    response = sr_api.post("/sdapi/v1/extra-single-image", json={
        "image": png_b64(source), "upscaler_1": "R-ESRGAN 2x+", "upscaling_resize": 2,
        "upscaler_2": "tiny-x4", "extras_upscaler_2_visibility": 0.5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert decode_b64_image(body["image"]).size == (112, 80)
    assert body["html_info"] == ("<p>Postprocess upscale by: 2.0, Postprocess upscaler: R-ESRGAN 2x+, "
                                 "Postprocess upscaler 2: tiny-x4</p>")
    bad = sr_api.post("/sdapi/v1/extra-single-image", json={"image": png_b64(source), "upscaler_1": "4x-Nope"})
    assert bad.status_code == 422 and "R-ESRGAN 2x+" in bad.json()["detail"]


def test_extras_gfpgan_changes_only_the_face(sr_api):
    astronaut = data.astronaut()
    response = sr_api.post("/sdapi/v1/extra-single-image", json={
        "image": png_b64(Image.fromarray(astronaut)), "gfpgan_visibility": 1})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["html_info"] == "<p>GFPGAN visibility: 1.0</p>"
    out = np.asarray(decode_b64_image(body["image"]).convert("RGB"))
    changed = np.argwhere(np.any(out != astronaut, axis=2))
    x0, (y1, x1) = changed.min(axis=0)[1], changed.max(axis=0)
    assert 60 < x0 and x1 < 420 and y1 < 360  # the face crop around (177, 66, 95, 95), not the whole picture
    assert len(changed) > 95 * 95


def test_hires_fix_with_an_esrgan_upscaler(sr_api):
    images, info = _txt2img(sr_api, enable_hr=True, hr_upscaler="tiny-x4", hr_scale=2, denoising_strength=0.5,
                            hr_second_pass_steps=1)
    assert images[0].size == (128, 128)
    assert "Hires upscale: 2.0, Hires steps: 1, Hires upscaler: tiny-x4" in info["infotexts"][0]
    latent, _ = _txt2img(sr_api, enable_hr=True, hr_upscaler="Latent", hr_scale=2, denoising_strength=0.5,
                         hr_second_pass_steps=1)
    assert latent[0].tobytes() != images[0].tobytes()


def test_sd_upscale_and_xyz_use_model_upscalers(sr_api):
    init = Image.fromarray(np.random.RandomState(1).randint(0, 255, (48, 48, 3), dtype=np.uint8))
    response = sr_api.post("/sdapi/v1/img2img", json={
        "init_images": [png_b64(init)], "prompt": "a", "steps": 1, "width": 64, "height": 64,
        "script_name": "sd upscale", "script_args": ["", 16, "R-ESRGAN 2x+", 2.0]})
    assert response.status_code == 200, response.text
    assert decode_b64_image(response.json()["images"][0]).size == (96, 96)
    assert "SD upscale upscaler: R-ESRGAN 2x+" in json.loads(response.json()["info"])["infotexts"][0]
    images, info = _txt2img(sr_api, enable_hr=True, hr_scale=2, denoising_strength=0.5, hr_second_pass_steps=1,
                            script_name="x/y/z plot",
                            script_args=["Hires upscaler", "Lanczos, tiny-x4", [], 0, "", [], 0, "", [], True, True])
    assert len(images) == 3
    assert "Hires upscaler: Lanczos" in info["infotexts"][1] and "Hires upscaler: tiny-x4" in info["infotexts"][2]


def test_restore_faces_names_the_restorer(sr_api):
    _, info = _txt2img(sr_api, restore_faces=True)
    assert "Face restoration: CodeFormer," in info["infotexts"][0]
    assert info["restore_faces"] is True and info["face_restoration_model"] == "CodeFormer"
    _, info = _txt2img(sr_api, restore_faces=True, override_settings={"face_restoration_model": "GFPGAN"})
    assert "Face restoration: GFPGAN," in info["infotexts"][0]
    _, info = _txt2img(sr_api)
    assert "Face restoration" not in info["infotexts"][0] and info["face_restoration_model"] is None


def test_without_face_models(api):
    """The shared server has no GFPGAN / CodeFormer files."""
    assert api.get("/sdapi/v1/face-restorers").json() == []
    _, info = _txt2img(api, restore_faces=True)
    assert "Face restoration: none installed," in info["infotexts"][0]
    response = api.post("/sdapi/v1/extra-single-image", json={
        "image": png_b64(Image.new("RGB", (32, 32))), "codeformer_visibility": 0.5})
    assert response.status_code == 422
    assert "codeformer_visibility" in response.text and "CodeFormer is not installed" in response.text
