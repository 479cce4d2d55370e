"""The bugs of issue 14, each as a designer or an admin met them in Chromium (every test failed on the WebUI
before the fix): settings reverting on reload, styles applied twice on paste, the checkpoint picker re-setting
on open/close, PNG Info's internal keys, the progress preview pushing the gallery, bare emoji buttons, and
settings for features that do not exist."""
from __future__ import annotations

import json
import re

import httpx
from PIL import Image, PngImagePlugin

from tests.support import wait_for
from tests.ui.conftest import (
    STYLES_CSV,
    choose,
    fill_text,
    gallery_images,
    generate,
    open_tab,
    selected_tokens,
    set_number,
    small_job,
    text_of,
)

EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2190-\u21ff\ufe0f]")


def config(webui) -> dict:
    path = webui.data_dir / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_settings_show_the_saved_values_after_a_reload(page, webui):
    """Bug 1: after Apply and a reload, Settings showed the old values and the next Apply wrote them back."""
    try:
        open_tab(page, "Settings")
        set_number(page, "setting_jpeg_quality", 93)
        fill_text(page, "setting_samples_filename_pattern", "[seed]-[steps]")
        page.click("#settings_submit")
        page.wait_for_function("() => document.querySelector('#settings_result').textContent.includes('jpeg_quality')")
        assert config(webui)["jpeg_quality"] == 93 and config(webui)["samples_filename_pattern"] == "[seed]-[steps]"
        page.reload()
        page.wait_for_selector("#txt2img_prompt textarea")
        open_tab(page, "Settings")
        page.wait_for_function(
            "() => document.querySelector('#setting_jpeg_quality input[type=number]').value === '93'")
        assert text_of(page, "setting_samples_filename_pattern") == "[seed]-[steps]"
        page.click("#settings_submit")  # nothing changed: nothing is written back
        page.wait_for_function("() => document.querySelector('#settings_result').textContent.includes('0 setting')")
        assert config(webui)["jpeg_quality"] == 93 and config(webui)["samples_filename_pattern"] == "[seed]-[steps]"
    finally:
        httpx.post(webui.url + "/sdapi/v1/options", json={"jpeg_quality": 80, "samples_filename_pattern": ""})


def test_pasting_an_infotext_selects_its_styles_instead_of_doubling_them(page, webui):
    """Bug 3: the pasted prompt kept the style text and the style stayed selected, so it was applied twice."""
    page.fill("#txt2img_prompt textarea", "a red cat")
    small_job(page, "txt2img", steps=2)
    choose(page, "txt2img_styles", "Cinematic")
    page.keyboard.press("Escape")
    page.click("#txt2img_generate")
    page.wait_for_function("() => document.querySelector('#txt2img_info textarea').value.includes('Steps: 2')")
    infotext = text_of(page, "txt2img_info")
    assert infotext.startswith("a red cat, cinematic lighting\nNegative prompt: blurry")

    page.fill("#txt2img_prompt textarea", infotext)
    page.click("#txt2img_paste")
    page.wait_for_function("() => document.querySelector('#txt2img_prompt textarea').value === 'a red cat'")
    assert text_of(page, "txt2img_neg_prompt") == ""
    assert selected_tokens(page, "txt2img_styles") == ["Cinematic"]
    generate(page)  # the same picture again, not "a red cat, cinematic lighting, cinematic lighting"
    page.wait_for_function("() => document.querySelector('#txt2img_info textarea').value.includes('Steps: 2')")
    assert text_of(page, "txt2img_info") == infotext

    # PNG Info -> Send to txt2img does the same with the saved file.
    saved = sorted((webui.data_dir / "outputs" / "txt2img-images").rglob("*.png"), key=lambda p: p.stat().st_mtime)
    page.locator("#txt2img_styles .token-remove").first.click()
    assert selected_tokens(page, "txt2img_styles") == []
    page.fill("#txt2img_prompt textarea", "something else")
    open_tab(page, "PNG Info")
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(saved[-1]))
    page.wait_for_function("() => document.querySelector('#pnginfo_generation_info textarea').value.includes('Steps')")
    page.click("#pnginfo_send_txt2img")
    page.wait_for_function("() => document.querySelector('#txt2img_prompt textarea').value === 'a red cat'")
    assert selected_tokens(page, "txt2img_styles") == ["Cinematic"]


def test_opening_and_closing_the_checkpoint_picker_changes_nothing(page, webui):
    """Bug 4: opening and closing the dropdown set the current checkpoint again (and logged it)."""
    before = webui.log().count("WebUI: sd_model_checkpoint set to")
    picker = page.locator("#setting_sd_model_checkpoint input")
    for _ in range(2):
        picker.click()
        page.get_by_role("option").first.wait_for()
        page.keyboard.press("Escape")
        picker.click()
        page.locator("#txt2img_prompt textarea").click()  # closes it by clicking elsewhere
    page.wait_for_timeout(1500)  # give a stray event the time it would take to reach the server
    assert webui.log().count("WebUI: sd_model_checkpoint set to") == before
    assert "Checkpoint" not in page.locator("#quicksettings_status").inner_text()


def test_png_info_shows_the_parameters_without_internal_keys(page, tmp_path):
    """Bug 5: PNG Info listed internal keys ("Size-1", "Size-2") and defaults the text did not hold."""
    meta = PngImagePlugin.PngInfo()
    text = "an owl, at night\nNegative prompt: fog\nSteps: 7, Sampler: Euler, CFG scale: 6, Seed: 42, Size: 8x16"
    meta.add_text("parameters", text)
    path = tmp_path / "owl.png"
    Image.new("RGB", (8, 16)).save(path, pnginfo=meta)
    open_tab(page, "PNG Info")
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(path))
    page.locator("#pnginfo_html table").wait_for()
    assert text_of(page, "pnginfo_generation_info") == text  # the raw text, as A1111 shows it
    keys = page.locator("#pnginfo_html th").all_inner_texts()
    assert keys == ["Prompt", "Negative prompt", "Steps", "Sampler", "CFG scale", "Seed", "Size"]
    assert page.locator("#pnginfo_html tr", has_text="Size").locator("td").inner_text() == "8x16"


def test_live_preview_takes_the_gallery_place_and_buttons_follow_the_job(page, webui):
    """Bug 6: the preview pushed the last result down; Generate stayed while a job ran; a second Generate was
    queued silently."""
    page.fill("#txt2img_prompt textarea", "a first picture")
    small_job(page, "txt2img", steps=2)
    page.click("#txt2img_generate")
    gallery_images(page, "txt2img").first.wait_for()
    page.wait_for_function("() => !document.body.classList.contains('easel-busy-txt2img')")
    gallery = page.locator("#txt2img_gallery")
    before = gallery.bounding_box()

    small_job(page, "txt2img", steps=150)
    set_number(page, "txt2img_batch_count", 3)
    page.click("#txt2img_generate")
    preview = page.locator("#txt2img_live_preview img")
    preview.wait_for()
    during = gallery.bounding_box()
    assert abs(during["y"] - before["y"]) < 1 and abs(during["height"] - before["height"]) < 1  # nothing moved
    box = page.locator("#txt2img_live_preview").bounding_box()
    for key in ("x", "y", "width", "height"):
        assert abs(box[key] - during[key]) < 2, key  # the preview covers the gallery exactly
    assert not page.locator("#txt2img_generate").is_visible()
    assert page.locator("#txt2img_interrupt").is_visible() and page.locator("#txt2img_skip").is_visible()

    page.click("#txt2img_enqueue")  # a second job: queued, and the page says so
    page.locator("#txt2img_queued", has_text="+1 queued").wait_for()
    wait_for(lambda: httpx.get(webui.url + "/internal/pending-tasks").json()["size"] == 1)
    page.click("#txt2img_interrupt")  # the running one ends; the queued one starts
    wait_for(lambda: httpx.get(webui.url + "/internal/pending-tasks").json()["size"] == 0)
    page.wait_for_function("() => !document.querySelector('#txt2img_queued')?.textContent")
    page.click("#txt2img_interrupt")
    page.wait_for_function("() => !document.body.classList.contains('easel-busy-txt2img')")
    assert page.locator("#txt2img_generate").is_visible() and not page.locator("#txt2img_interrupt").is_visible()
    assert page.locator("#txt2img_progressbar").count() == 0
    set_number(page, "txt2img_batch_count", 1)


def test_tool_buttons_are_svg_icons_with_hints(page):
    """Bug 7: tool buttons were bare emoji (empty boxes without an emoji font) and had no hover hints."""
    seen = set()
    for tab in ("txt2img", "img2img", "PNG Info", "Image Browser"):
        open_tab(page, tab)
        page.wait_for_timeout(300)
        described = page.evaluate("""() => [...document.querySelectorAll('button.tool, button.easel-icon')]
            .filter((b) => b.offsetParent !== null).map((b) => ({id: b.id, title: b.title, text: b.textContent.trim(),
            mask: getComputedStyle(b, '::before').webkitMaskImage || getComputedStyle(b, '::before').maskImage}))""")
        for button in described:
            assert button["title"], f"{button['id']} has no hover hint"
            assert not EMOJI.search(button["text"]), f"{button['id']} shows an emoji: {button['text']!r}"
            assert button["mask"].startswith('url("data:image/svg+xml'), button
            seen.add(button["id"])
    for expected in ("txt2img_random_seed", "txt2img_reuse_seed", "refresh_sd_model_checkpoint", "txt2img_paste",
                     "txt2img_clear_prompt", "txt2img_style_apply", "txt2img_styles_edit_button", "txt2img_save",
                     "img2img_send_to_extras", "pnginfo_send_txt2img"):
        assert expected in seen, expected
    open_tab(page, "txt2img")
    assert page.locator("#txt2img_random_seed").get_attribute("title").startswith("Set seed to -1")


def test_settings_offer_only_what_works(page):
    """Bug 9: Settings had sections for features Easel lacks (Training, Interrogate) and options nothing read."""
    open_tab(page, "Settings")
    page.locator("#settings_submit").wait_for()
    sections = page.locator(".easel-settings-nav a").all_inner_texts()
    assert "Training" not in sections and "Interrogate" not in sections
    assert "Face restoration" in sections and "Saving images/grids" in sections
    for missing in ("export_for_4chan", "unload_models_when_training", "interrogate_keep_models_in_memory"):
        assert page.locator(f"#setting_{missing}").count() == 0
    for present in ("grid_format", "n_rows", "grid_only_if_multiple", "return_grid"):
        assert page.locator(f"#setting_{present}").count() == 1


def test_styles_csv_is_followed_and_edited(page, webui):
    """Bug 3 (second half): a style added to styles.csv shows up without a refresh; the style editor saves."""
    styles = webui.data_dir / "styles.csv"
    try:
        styles.write_text(STYLES_CSV + "Watercolor,\"{prompt}, watercolor\",\n", encoding="utf-8")
        picker = page.locator("#txt2img_styles input")
        option = page.get_by_role("option", name="Watercolor", exact=True)

        def listed() -> bool:
            page.locator("#txt2img_neg_prompt textarea").click()  # closes the list if it is open
            picker.click()
            page.get_by_role("option").first.wait_for()
            return option.count() > 0

        wait_for(listed, timeout=30, interval=0.5)
        page.locator("#txt2img_neg_prompt textarea").click()

        page.click("#txt2img_styles_edit_button")
        page.locator("#txt2img_styles_dialog").wait_for()
        fill_text(page, "txt2img_edit_style_name", "Pencil")
        page.keyboard.press("Escape")
        fill_text(page, "txt2img_edit_style_prompt", "{prompt}, pencil sketch")
        fill_text(page, "txt2img_edit_style_neg_prompt", "color")
        page.click("#txt2img_edit_style_save")
        page.locator("#txt2img_edit_style_status", has_text="Saved style").wait_for()
        assert "Pencil,\"{prompt}, pencil sketch\",color" in styles.read_text(encoding="utf-8-sig")
        choose(page, "txt2img_styles", "Pencil")
        page.keyboard.press("Escape")
        assert "Pencil" in selected_tokens(page, "txt2img_styles")
        page.click("#txt2img_edit_style_delete")
        page.locator("#txt2img_edit_style_status", has_text="Deleted style").wait_for()
        assert "Pencil" not in styles.read_text(encoding="utf-8-sig")
        assert "Pencil" not in selected_tokens(page, "txt2img_styles")
    finally:
        styles.write_text(STYLES_CSV, encoding="utf-8")
