"""The ControlNet accordion in headless Chromium: unit tabs, control type filter, preview, and a generation that
carries the unit (its map comes back after the image, its infotext line in the info)."""
from __future__ import annotations

import sys

import pytest
from PIL import Image, ImageDraw

from tests.support import ROOT, EaselServer
from tests.ui.conftest import open_tab, set_number, small_job

CN_DIR = ROOT / "extensions_builtin" / "controlnet"
if str(CN_DIR) not in sys.path:
    sys.path.append(str(CN_DIR))


@pytest.fixture(scope="module")
def cn_webui(tmp_path_factory):
    from lib_controlnet import tiny

    root = tmp_path_factory.mktemp("cn-webui")
    tiny.write_tiny_checkpoint_8x(root / "models" / "Stable-diffusion" / "tiny8.safetensors")
    tiny.write_tiny_controlnet(root / "models" / "ControlNet" / "control_v11p_sd15_canny.safetensors")
    server = EaselServer(root, webui=True).start()
    yield server
    server.stop()


@pytest.fixture()
def cn_page(browser, cn_webui):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(cn_webui.url + "/")
    page.wait_for_selector("#txt2img_prompt textarea")
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def picture(path):
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).rectangle([16, 16, 48, 48], outline="black", width=3)
    image.save(path)
    return path


def test_the_accordion_previews_and_generates(cn_page, cn_webui, tmp_path):
    page = cn_page
    page.click("#txt2img_controlnet")  # open the accordion
    for i in range(3):
        assert page.get_by_role("tab", name=f"ControlNet Unit {i}").count() == 1
    prefix = "#txt2img_controlnet_unit0"
    page.locator(f"{prefix}_image input[type=file]").set_input_files(str(picture(tmp_path / "p.png")))
    page.locator(f"{prefix}_image img").wait_for()
    page.locator(f"{prefix}_control_type").get_by_label("Canny").check()
    page.wait_for_function(f"() => document.querySelector('{prefix}_model input').value"
                           ".startsWith('control_v11p_sd15_canny [')")
    assert page.locator(f"{prefix}_module input").input_value() == "canny"
    page.click(f"{prefix}_preview_button")
    page.locator(f"{prefix}_preview img").wait_for()
    page.locator(f"{prefix}_enable input").check()
    set_number(page, "txt2img_controlnet_unit0_weight", 1.5)
    page.fill("#txt2img_prompt textarea", "a box")
    small_job(page, "txt2img", steps=3)
    page.click("#txt2img_generate")
    page.wait_for_function("() => document.querySelector('#txt2img_info textarea').value.includes('ControlNet 0')")
    info = page.locator("#txt2img_info textarea").input_value()
    assert 'ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [' in info and "Weight: 1.5" in info
    page.wait_for_function("() => document.querySelectorAll('#txt2img_gallery .thumbnail-item, #txt2img_gallery "
                           "button img').length >= 2")  # the image and the detected map


def test_img2img_has_its_own_units(cn_page):
    open_tab(cn_page, "img2img")
    cn_page.click("#img2img_controlnet")
    assert cn_page.locator("#img2img_controlnet_unit0_enable").is_visible()
    cn_page.click("#img2img_controlnet_unit0_refresh")  # the model list is read again
    cn_page.locator("#img2img_controlnet_unit0_model input").click()
    cn_page.get_by_role("option", name="control_v11p_sd15_canny", exact=False).click()
    cn_page.wait_for_function("() => document.querySelector('#img2img_controlnet_unit0_model input').value"
                              ".startsWith('control_v11p_sd15_canny [')")
