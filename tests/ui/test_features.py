"""Issue 14's A1111-parity features, used as a designer would in Chromium: Extra Networks cards, the Settings
sidebar and search, a localization, img2img's sub-tabs and "Resize by", the image browser, and the Extensions
tab disabling an extension across a restart."""
from __future__ import annotations

import json

import httpx
import pytest
from PIL import Image, PngImagePlugin

from tests.support import EaselServer, make_data_dir, wait_for
from tests.ui.conftest import fill_text, generate, new_page, open_tab, set_number, small_job, text_of


def write_lora(path, tags: dict) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"lora_unet_x.lora_down.weight": torch.zeros(1, 1)}, str(path),
              metadata={"ss_output_name": path.stem, "ss_tag_frequency": json.dumps({"set": tags})})


def test_lora_card_inserts_its_tag_searches_and_shows_metadata(page, webui):
    lora_dir = webui.data_dir / "models" / "Lora"
    lora_dir.mkdir(parents=True, exist_ok=True)
    lora = lora_dir / "pixelstyle.safetensors"
    write_lora(lora, {"pixel art": 12, "sprite": 3})
    Image.new("RGB", (32, 32), (250, 120, 0)).save(lora_dir / "pixelstyle.preview.png")
    try:
        page.fill("#txt2img_prompt textarea", "a castle")
        page.get_by_role("tab", name="Lora", exact=True).first.click()
        page.click("#txt2img_lora_extra_refresh")
        card = page.locator("#txt2img_lora_cards .card[data-name='pixelstyle']")
        card.wait_for()
        # decode() resolves once the preview has loaded (a lazily loaded image may still be fetching)
        assert card.locator("img.preview").evaluate("(img) => img.decode().then(() => img.naturalWidth)") == 32
        card.locator(".card-name").click()
        assert text_of(page, "txt2img_prompt") == "a castle <lora:pixelstyle:1>"  # A1111: a space before it
        card.locator(".card-name").click()  # a second click takes it out again
        assert text_of(page, "txt2img_prompt") == "a castle"

        search = page.locator("#txt2img_lora_cards .extra-network-search")
        search.fill("nothing like it")
        assert card.is_hidden()
        search.fill("pixel")
        assert card.is_visible()

        card.hover()
        card.locator(".card-metadata").click()
        modal = page.locator("#easel_metadata_modal")
        modal.get_by_text("pixel art").first.wait_for()
        assert "ss_output_name" in modal.inner_text()
        page.keyboard.press("Escape")
    finally:
        lora.unlink()
        (lora_dir / "pixelstyle.preview.png").unlink()
        page.get_by_role("tab", name="Generation", exact=True).first.click()


def test_settings_sidebar_and_search(page):
    open_tab(page, "Settings")
    jpeg = page.locator("#setting_jpeg_quality")
    clip = page.locator("#setting_CLIP_stop_at_last_layers")
    page.locator(".easel-settings-nav a", has_text="Stable Diffusion").click()
    clip.wait_for()
    assert jpeg.is_hidden()  # one page at a time
    page.locator(".easel-settings-nav a", has_text="Show all pages").click()
    jpeg.wait_for()
    assert clip.is_visible()
    fill_text(page, "settings_search", "jpeg")
    page.wait_for_function("() => !document.querySelector('#setting_CLIP_stop_at_last_layers')?.offsetParent")
    assert jpeg.is_visible()
    fill_text(page, "settings_search", "")
    clip.wait_for()


def test_localization_translates_the_page(browser, webui):
    assert httpx.post(webui.url + "/sdapi/v1/options", json={"localization": "zh_CN"}).status_code == 200
    try:
        page = new_page(browser, webui)
        page.locator("#txt2img_generate", has_text="生成").wait_for()
        assert page.get_by_role("tab", name="文生图").count() >= 1
        assert page.locator("#txt2img_prompt textarea").input_value() == ""  # what the user types stays as is
        page.context.close()
    finally:
        httpx.post(webui.url + "/sdapi/v1/options", json={"localization": "None"})
    page = new_page(browser, webui)
    page.locator("#txt2img_generate", has_text="Generate").wait_for()
    page.context.close()


def test_img2img_sub_tabs_and_resize_by(page, tmp_path):
    source = tmp_path / "small.png"
    Image.new("RGB", (32, 48), (90, 160, 30)).save(source)
    open_tab(page, "img2img")
    titles = page.locator("#mode_img2img [role=tab]").all_inner_texts()
    assert [t.strip() for t in titles] == ["img2img", "Sketch", "Inpaint", "Inpaint sketch", "Inpaint upload", "Batch"]
    page.locator("#img2img_image input[type=file]").set_input_files(str(source))
    page.locator("#img2img_image img").wait_for()
    page.fill("#img2img_prompt textarea", "a field")
    small_job(page, "img2img", steps=2)
    page.get_by_role("tab", name="Resize by", exact=True).click()
    set_number(page, "img2img_scale", 2)
    page.locator("#img2img_scale_resolution_preview", has_text="64x96").wait_for()
    generate(page, "img2img")
    assert "Size: 64x96" in text_of(page, "img2img_info")
    page.get_by_role("tab", name="Resize to", exact=True).click()


def test_image_browser_finds_by_prompt_and_sends_to_txt2img(page, webui):
    folder = webui.data_dir / "outputs" / "txt2img-images" / "2026-01-02"
    folder.mkdir(parents=True, exist_ok=True)
    for name, prompt in (("00001-1.png", "a striped zebra"), ("00002-2.png", "a plain horse")):
        meta = PngImagePlugin.PngInfo()
        meta.add_text("parameters", f"{prompt}\nSteps: 4, Sampler: Euler, CFG scale: 5, Seed: 77, Size: 16x16")
        Image.new("RGB", (16, 16), (20, 20, 20)).save(folder / name, pnginfo=meta)
    open_tab(page, "Image Browser")
    fill_text(page, "image_browser_search", "zebra")
    page.locator("#image_browser_search textarea, #image_browser_search input").first.press("Enter")
    page.locator("#image_browser_page_info", has_text="1 image(s) matching").wait_for()
    page.locator("#image_browser_gallery img").first.click()
    page.wait_for_function("() => document.querySelector('#image_browser_infotext textarea').value"
                           ".startsWith('a striped zebra')")
    assert text_of(page, "image_browser_file") == "outputs/txt2img-images/2026-01-02/00001-1.png"
    page.click("#image_browser_send_txt2img")
    page.wait_for_function("() => document.querySelector('#txt2img_prompt textarea').value === 'a striped zebra'")
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "4"


@pytest.fixture(scope="module")
def restartable(tmp_path_factory):
    server = EaselServer(make_data_dir(tmp_path_factory.mktemp("extensions")), webui=True).start()
    yield server
    server.stop()


def test_extensions_tab_disables_an_extension_across_a_restart(browser, restartable):
    page = new_page(browser, restartable)
    assert page.get_by_role("tab", name="BeautifulPrompt", exact=True).count() == 1
    open_tab(page, "Extensions")
    page.locator("#extensions_enabled label", has_text="beautifulprompt").locator("input").uncheck()
    page.click("#extensions_apply")
    page.locator("#extensions_status", has_text="Restarting").wait_for()
    wait_for(lambda: "restarting:" in restartable.log(), timeout=60)
    page.wait_for_selector("#txt2img_prompt textarea", timeout=120_000)  # the page reloads when it is back
    page.get_by_role("tab", name="Extensions", exact=True).wait_for()
    assert page.get_by_role("tab", name="BeautifulPrompt", exact=True).count() == 0
    config = json.loads((restartable.data_dir / "config.json").read_text())
    assert config["disabled_extensions"] == ["beautifulprompt"]

    open_tab(page, "Extensions")
    page.click("#tabs_extensions [role=tab]:has-text('Install from URL')")
    fill_text(page, "extensions_install_url", "https://github.com/someone/sd-webui-thing")
    page.click("#extensions_install_button")
    page.locator("#extensions_install_result", has_text="works offline").wait_for()
    page.context.close()


def natural_sizes(page, tab: str = "txt2img") -> list[tuple[int, int]]:
    page.wait_for_function(f"() => [...document.querySelectorAll('#{tab}_gallery img')].every((i) => i.complete)")
    return [tuple(s) for s in page.locator(f"#{tab}_gallery img").evaluate_all(
        "(imgs) => imgs.map((i) => [i.naturalWidth, i.naturalHeight])")]


def test_hires_fix_returns_the_upscaled_size(page):
    page.fill("#txt2img_prompt textarea", "a hires picture")
    small_job(page, "txt2img", steps=2, size=64)
    page.locator("#txt2img_hr").get_by_text("Hires. fix").first.click()
    page.locator("#txt2img_enable_hr input").check()
    set_number(page, "txt2img_hires_steps", 1)
    page.locator("#txt2img_hr_target", has_text="to 128x128").wait_for()
    try:
        generate(page)
        info = text_of(page, "txt2img_info")
        assert "Hires upscale: 2" in info and "Size: 64x64" in info
        assert natural_sizes(page) == [(128, 128)]
    finally:
        page.locator("#txt2img_enable_hr input").uncheck()


def test_xyz_plot_grid_has_a_legend(page):
    page.fill("#txt2img_prompt textarea", "a plotted picture")
    small_job(page, "txt2img", steps=2, size=64)
    page.locator("#txt2img_script_list input").click()
    page.get_by_role("option", name="X/Y/Z plot", exact=True).click()
    x_type = page.locator("#script_txt2img_xyz_plot_x_type input")
    x_type.wait_for()
    assert x_type.input_value() == "Seed"
    fill_text(page, "script_txt2img_xyz_plot_x_values", "1, 2")
    try:
        generate(page)
        sizes = natural_sizes(page)
        assert len(sizes) == 1  # A1111: only the grid, unless "Include Sub Images" is ticked
        grid_w, grid_h = sizes[0]
        assert grid_w == 128 and grid_h > 64  # two cells side by side under a band with the "Seed: 1" labels
    finally:
        page.locator("#txt2img_script_list input").click()
        page.get_by_role("option", name="None", exact=True).click()


def test_batch_grid_is_saved_and_shown(page, webui):
    page.fill("#txt2img_prompt textarea", "a grid of two")
    small_job(page, "txt2img", steps=2, size=64)
    set_number(page, "txt2img_batch_count", 2)
    grids = webui.data_dir / "outputs" / "txt2img-grids"
    before = set(grids.rglob("grid-*.png")) if grids.exists() else set()
    try:
        generate(page)
        assert natural_sizes(page) == [(128, 64), (64, 64), (64, 64)]
        new = set(grids.rglob("grid-*.png")) - before
        assert len(new) == 1 and Image.open(new.pop()).size == (128, 64)
    finally:
        set_number(page, "txt2img_batch_count", 1)
