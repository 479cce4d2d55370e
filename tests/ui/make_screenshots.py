"""Screenshots of every WebUI tab and the new panels into docs/screenshots/<name>-<width>.png (1440 and 800 px
wide), from a real server on a tiny checkpoint.

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
from tests.ui.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    STYLES_CSV,
    generate,
    open_tab,
    set_number,
    small_job,
    upload_to_editor,
)

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


WIDTHS = (1440, 800)


def shoot(page, out: Path, name: str, width: int) -> None:
    page.mouse.move(0, 0)
    path = out / f"{name}-{width}.png"
    page.screenshot(path=str(path), full_page=False)
    print("wrote", path)


def add_lora(data_dir: Path) -> None:
    import torch
    from safetensors.torch import save_file

    lora_dir = data_dir / "models" / "Lora"
    lora_dir.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(("pixel-art", "watercolor", "ink-sketch")):
        save_file({"lora_unet_x.lora_down.weight": torch.zeros(1, 1)}, str(lora_dir / f"{name}.safetensors"),
                  metadata={"ss_output_name": name})
        Image.linear_gradient("L").rotate(90 * index).resize((96, 96)).convert("RGB").save(
            lora_dir / f"{name}.preview.png")


def tour(page, out: Path, sample: Path, width: int) -> None:
    """Every tab and the new panels, at one window width."""
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(page.url)
    page.wait_for_selector("#txt2img_prompt textarea")
    page.fill("#txt2img_prompt textarea", "a lighthouse on a cliff at dusk, (oil painting:1.2)")
    page.fill("#txt2img_neg_prompt textarea", "blurry")
    small_job(page, "txt2img", steps=8, size=128)
    set_number(page, "txt2img_batch_size", 2)
    generate(page)
    shoot(page, out, "txt2img", width)
    page.locator("#txt2img_hr").get_by_text("Hires. fix").first.click()
    page.locator("#txt2img_hr").scroll_into_view_if_needed()
    shoot(page, out, "txt2img_hires", width)
    page.evaluate("() => window.scrollTo(0, 0)")

    page.get_by_role("tab", name="Lora", exact=True).first.click()
    page.locator("#txt2img_lora_cards .card").first.wait_for()
    shoot(page, out, "extra_networks", width)
    page.get_by_role("tab", name="Generation", exact=True).first.click()

    open_tab(page, "img2img")
    page.locator("#img2img_image input[type=file]").set_input_files(str(sample))
    page.locator("#img2img_image img").wait_for()
    page.fill("#img2img_prompt textarea", "a red boat on the sea")
    shoot(page, out, "img2img", width)
    page.get_by_role("tab", name="Inpaint", exact=True).click()
    upload_to_editor(page, "img2maskimg", sample)
    page.wait_for_function("() => !/^45%$/m.test(document.querySelector('#img2maskimg').innerText)")
    box = page.locator("#img2maskimg canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 60, cy - 40)
    page.mouse.down()
    page.mouse.move(cx + 40, cy + 20, steps=10)
    page.mouse.up()
    shoot(page, out, "img2img_inpaint", width)
    page.get_by_role("tab", name="img2img", exact=True).last.click()

    open_tab(page, "Extras")
    page.locator("#extras_image input[type=file]").set_input_files(str(sample))
    page.click("#extras_generate")
    page.wait_for_selector("#extras_result img")
    shoot(page, out, "extras", width)

    open_tab(page, "PNG Info")
    page.locator("#pnginfo_image input[type=file]").set_input_files(str(sample))
    page.wait_for_function(
        "() => document.querySelector('#pnginfo_generation_info textarea').value.includes('lighthouse')")
    shoot(page, out, "png_info", width)

    open_tab(page, "Image Browser")
    page.locator("#image_browser_gallery img").first.wait_for()
    page.locator("#image_browser_gallery img").first.click()
    page.wait_for_function("() => document.querySelector('#image_browser_infotext textarea').value.length > 0")
    shoot(page, out, "image_browser", width)

    open_tab(page, "BeautifulPrompt")
    page.fill("#beautifulprompt_input textarea", "a lighthouse at dusk")
    set_number(page, "beautifulprompt_seed", 7)
    page.click("#beautifulprompt_expand")
    page.wait_for_function("() => document.querySelector('#beautifulprompt_results textarea').value.length > 0")
    shoot(page, out, "beautifulprompt", width)

    open_tab(page, "FileBrowser")
    page.locator("#filebrowser-root .fb-name a", has_text="models").first.click()
    page.locator("#filebrowser-root .fb-name a", has_text="Stable-diffusion").click()
    page.locator("#filebrowser-root .fb-name", has_text="tiny-a.safetensors").wait_for()
    shoot(page, out, "filebrowser", width)

    open_tab(page, "Extensions")
    page.locator("#extensions_enabled").wait_for()
    shoot(page, out, "extensions", width)

    open_tab(page, "Settings")
    page.locator("#settings_submit").wait_for()
    shoot(page, out, "settings", width)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data_dir = make_data_dir(tmp_path / "data", {"tiny-a.safetensors": 0})
        (data_dir / "styles.csv").write_text(STYLES_CSV, encoding="utf-8")
        add_lora(data_dir)
        sample = sample_image(tmp_path)
        server = EaselServer(data_dir, webui=True).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": WIDTHS[0], "height": 1000})
                page.set_default_timeout(120_000)
                page.goto(server.url + "/")
                for width in WIDTHS:
                    tour(page, args.out, sample, width)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
