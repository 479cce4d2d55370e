"""The WebUI in headless Chromium: generate with progress, interrupt, inpaint with a painted mask, and the
A1111 habits (paste infotext, Ctrl+Up/Down, Ctrl+Enter), styles, seeds, send-to, PNG Info and Settings."""
from __future__ import annotations

import json
import re

import httpx
from PIL import Image

from tests.ui.conftest import open_tab, set_number, small_job, upload_to_editor

# Records every progress bar the page shows (it may come and go within one poll for a tiny model).
WATCH_PROGRESS = """() => {
  window.__progressSeen = [];
  new MutationObserver(() => {
    for (const bar of document.querySelectorAll('.progressDiv')) window.__progressSeen.push(bar.id);
  }).observe(document.body, {childList: true, subtree: true});
}"""


def newest_output(data_dir, mode: str):
    files = sorted((data_dir / "outputs" / f"{mode}-images").rglob("*.png"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def test_generate_shows_progress_image_and_infotext(page, webui):
    page.evaluate(WATCH_PROGRESS)
    page.fill("#txt2img_prompt textarea", "a red cat")
    small_job(page, "txt2img")
    page.locator("#txt2img_styles input").click()
    page.get_by_role("option", name="Cinematic").click()
    page.keyboard.press("Escape")
    page.click("#txt2img_generate")
    page.wait_for_selector("#txt2img_gallery img")
    info = page.locator("#txt2img_info textarea")
    page.wait_for_function("() => document.querySelector('#txt2img_info textarea').value.includes('Steps: 3')")
    text = info.input_value()
    assert text.startswith("a red cat, cinematic lighting")  # the style went through the request
    assert "Negative prompt: blurry" in text and "Size: 64x64" in text
    assert "txt2img_progressbar" in page.evaluate("window.__progressSeen")
    saved = newest_output(webui.data_dir, "txt2img")
    assert saved is not None and Image.open(saved).info["parameters"] == text  # the file carries its infotext
    seed = re.search(r"Seed: (\d+)", text).group(1)
    page.click("#txt2img_reuse_seed")  # ♻️ puts the last seed back
    page.wait_for_function(f"() => document.querySelector('#txt2img_seed input').value === '{seed}'")
    page.click("#txt2img_random_seed")  # 🎲 back to random
    page.wait_for_function("() => document.querySelector('#txt2img_seed input').value === '-1'")

    page.click("#txt2img_send_to_extras")  # the image goes to Extras; upscale it there
    page.wait_for_selector("#extras_image img")
    page.click("#extras_generate")
    page.wait_for_selector("#extras_result img")
    page.wait_for_function("() => document.querySelector('#extras_info').textContent.includes('Postprocess')")
    upscaled = newest_output(webui.data_dir, "extras")
    assert Image.open(upscaled).size == (128, 128)
    assert Image.open(upscaled).info["parameters"] == text


def test_interrupt_a_long_run(page, webui):
    page.fill("#txt2img_prompt textarea", "a long job")
    small_job(page, "txt2img", steps=150)
    set_number(page, "txt2img_batch_count", 4)
    page.click("#txt2img_generate")
    # The progress bar fills while the job runs, and the API sees the same job as the UI.
    page.wait_for_function("() => parseFloat(document.querySelector('#txt2img_progressbar')?.dataset.progress || 0)"
                           " > 0.005")
    assert "ETA" in page.locator("#txt2img_progressbar").inner_text()
    page.locator("#txt2img_live_preview img").wait_for()  # the live preview of the latents
    job = httpx.get(webui.url + "/sdapi/v1/progress", params={"skip_current_image": True}).json()["state"]["job"]
    assert job.startswith("task(txt2img-")
    page.click("#txt2img_interrupt")
    page.wait_for_function("() => document.querySelector('#txt2img_html_log').textContent.includes('Interrupted')")
    page.wait_for_selector("#txt2img_progressbar", state="detached")
    assert httpx.get(webui.url + "/internal/pending-tasks").json() == {"size": 0, "tasks": []}


def test_paint_a_mask_and_inpaint(page, webui, tmp_path):
    source = tmp_path / "blue.png"
    Image.new("RGB", (64, 64), (40, 120, 200)).save(source)
    open_tab(page, "img2img")
    page.get_by_role("tab", name="Inpaint", exact=True).click()
    editor = page.locator("#img2maskimg")
    canvas = editor.locator("canvas").first
    upload_to_editor(page, "img2maskimg", source)
    page.wait_for_function(  # zoomed to fit the 64x64 picture
        "() => !/^45%$/m.test(document.querySelector('#img2maskimg').innerText)")
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 120, cy - 120)  # a stroke over the top-left quarter of the picture
    page.mouse.down()
    page.mouse.move(cx - 60, cy - 60, steps=8)
    page.mouse.up()
    page.fill("#img2img_prompt textarea", "a red square")
    small_job(page, "img2img", steps=4)
    set_number(page, "img2img_denoising_strength", 1)
    page.click("#img2img_generate")
    page.wait_for_selector("#img2img_gallery img")
    result = Image.open(newest_output(webui.data_dir, "img2img")).convert("RGB")
    assert result.size == (64, 64)
    # Outside the painted mask the original shows through; under it the model repainted.
    assert result.getpixel((60, 60)) == (40, 120, 200)
    assert result.getpixel((16, 16)) != (40, 120, 200)


def test_paste_infotext_attention_keys_and_ctrl_enter(page, webui):
    infotext = ("a castle on a hill\nNegative prompt: fog\nSteps: 5, Sampler: DDIM, Schedule type: Karras, "
                "CFG scale: 4.5, Seed: 1234, Size: 64x96, Model: tiny-a")
    prompt = page.locator("#txt2img_prompt textarea")
    prompt.fill(infotext)
    page.click("#txt2img_paste")
    page.wait_for_function("() => document.querySelector('#txt2img_prompt textarea').value === 'a castle on a hill'")
    assert page.locator("#txt2img_neg_prompt textarea").input_value() == "fog"
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "5"
    assert page.locator("#txt2img_height input[type=number]").input_value() == "96"
    assert page.locator("#txt2img_seed input").input_value() == "1234"
    assert page.locator("#txt2img_sampling input").input_value() == "DDIM"

    # Ctrl+Up on the selection "castle" -> "(castle:1.1)"; Ctrl+Down twice -> back to 1.0 then 0.9.
    prompt.focus()
    page.evaluate("() => { const t = document.querySelector('#txt2img_prompt textarea'); t.setSelectionRange(2, 8); }")
    prompt.press("Control+ArrowUp")
    assert prompt.input_value() == "a (castle:1.1) on a hill"
    prompt.press("Control+ArrowUp")
    assert prompt.input_value() == "a (castle:1.2) on a hill"
    prompt.press("Control+ArrowDown")
    prompt.press("Control+ArrowDown")
    assert prompt.input_value() == "a castle on a hill"
    prompt.press("Control+ArrowDown")
    assert prompt.input_value() == "a (castle:0.9) on a hill"

    set_number(page, "txt2img_steps", 2)
    prompt.press("Control+Enter")  # generates
    page.wait_for_function("() => document.querySelector('#txt2img_info textarea').value.includes('Seed: 1234')")
    info = page.locator("#txt2img_info textarea").input_value()
    assert info.startswith("a (castle:0.9) on a hill") and "Size: 64x96" in info and "Sampler: DDIM" in info


def test_png_info_and_settings(page, webui, tmp_path):
    image = Image.new("RGB", (8, 8))
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", "an owl\nSteps: 7, Sampler: Euler, CFG scale: 6, Seed: 42, Size: 8x8")
    path = tmp_path / "owl.png"
    image.save(path, pnginfo=meta)
    open_tab(page, "PNG Info")
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(path))
    page.wait_for_function("() => document.querySelector('#pnginfo_generation_info textarea').value.includes('owl')")
    assert "Seed" in page.locator("#pnginfo_html").inner_text()
    page.click("#pnginfo_send_txt2img")
    page.wait_for_function("() => document.querySelector('#txt2img_prompt textarea').value === 'an owl'")
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "7"

    open_tab(page, "Settings")
    quality = page.locator("#setting_jpeg_quality input[type=number]")
    original = quality.input_value()
    set_number(page, "setting_jpeg_quality", 91)
    page.click("#settings_submit")
    page.wait_for_function("() => document.querySelector('#settings_result').textContent.includes('jpeg_quality')")
    assert json.loads((webui.data_dir / "config.json").read_text())["jpeg_quality"] == 91
    assert httpx.get(webui.url + "/sdapi/v1/options").json()["jpeg_quality"] == 91
    set_number(page, "setting_jpeg_quality", original)
    page.click("#settings_submit")
    page.wait_for_function("() => document.querySelector('#settings_result').textContent.includes('1 setting')")
