"""Screenshots of every WebUI tab into docs/screenshots/<tab>.png, from a real server on a tiny checkpoint.

    venv/bin/python -m tests.ui.make_screenshots [--out docs/screenshots]

Needs /usr/bin/chromium (apt-get install -y chromium) and the playwright package; the tiny random model paints
noise, which is what the pictures show.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image, PngImagePlugin
from playwright.sync_api import sync_playwright

from tests.support import ROOT, EaselServer, make_data_dir
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, STYLES_CSV, open_tab, set_number, small_job, upload_to_editor

SAMPLE_INFOTEXT = ("a lighthouse on a cliff at dusk, oil painting, dramatic lighting\nNegative prompt: blurry\n"
                   "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1234, Size: 512x512, "
                   "Model: tiny-a")


def sample_image(folder: Path) -> Path:
    image = Image.linear_gradient("L").resize((128, 128)).convert("RGB")
    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", SAMPLE_INFOTEXT)
    path = folder / "sample.png"
    image.save(path, pnginfo=meta)
    return path


def shoot(page, out: Path, name: str) -> None:
    page.mouse.move(0, 0)
    page.screenshot(path=str(out / f"{name}.png"), full_page=False)
    print("wrote", out / f"{name}.png")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data_dir = make_data_dir(tmp_path / "data", {"tiny-a.safetensors": 0})
        (data_dir / "styles.csv").write_text(STYLES_CSV, encoding="utf-8")
        sample = sample_image(tmp_path)
        server = EaselServer(data_dir, webui=True).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.set_default_timeout(120_000)
                page.goto(server.url + "/")
                page.wait_for_selector("#txt2img_prompt textarea")

                page.fill("#txt2img_prompt textarea", "a lighthouse on a cliff at dusk, (oil painting:1.2)")
                page.fill("#txt2img_neg_prompt textarea", "blurry")
                small_job(page, "txt2img", steps=8, size=128)
                set_number(page, "txt2img_batch_size", 2)
                page.click("#txt2img_generate")
                page.wait_for_function("() => document.querySelector('#txt2img_info textarea').value.includes('Steps')")
                shoot(page, args.out, "txt2img")

                open_tab(page, "img2img")
                editor = page.locator("#img2img_image")
                upload_to_editor(page, "img2img_image", sample)
                page.wait_for_function("() => !/^45%$/m.test(document.querySelector('#img2img_image').innerText)")
                box = editor.locator("canvas").first.bounding_box()
                cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                page.mouse.move(cx - 60, cy - 40)
                page.mouse.down()
                page.mouse.move(cx + 40, cy + 20, steps=10)
                page.mouse.up()
                page.fill("#img2img_prompt textarea", "a red boat on the sea")
                shoot(page, args.out, "img2img")

                open_tab(page, "Extras")
                page.locator("#extras_image input[type=file]").set_input_files(str(sample))
                page.click("#extras_generate")
                page.wait_for_selector("#extras_result img")
                shoot(page, args.out, "extras")

                open_tab(page, "PNG Info")
                page.locator("#pnginfo_image input[type=file]").set_input_files(str(sample))
                page.wait_for_function(
                    "() => document.querySelector('#pnginfo_generation_info textarea').value.includes('lighthouse')")
                shoot(page, args.out, "png_info")

                open_tab(page, "BeautifulPrompt")
                page.fill("#beautifulprompt_input textarea", "a lighthouse at dusk")
                set_number(page, "beautifulprompt_seed", 7)
                page.click("#beautifulprompt_expand")
                page.wait_for_function(
                    "() => document.querySelector('#beautifulprompt_results textarea').value.length > 0")
                shoot(page, args.out, "beautifulprompt")

                open_tab(page, "FileBrowser")
                page.locator("#filebrowser-root .fb-name a", has_text="models").first.click()
                page.locator("#filebrowser-root .fb-name a", has_text="Stable-diffusion").click()
                page.locator("#filebrowser-root .fb-name", has_text="tiny-a.safetensors").wait_for()
                shoot(page, args.out, "filebrowser")

                open_tab(page, "Settings")
                page.locator("#settings_submit").wait_for()
                shoot(page, args.out, "settings")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
