"""Browser tests: one real Easel server with the WebUI (tiny checkpoint) and Debian's headless Chromium,
driven by Playwright's Python package (no browser download: `executable_path` is /usr/bin/chromium)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import EaselServer, make_data_dir

CHROMIUM = os.environ.get("EASEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STYLES_CSV = "name,prompt,negative_prompt\nCinematic,\"{prompt}, cinematic lighting\",blurry\n"


def launch_chromium(playwright):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./run_tests.sh installs it (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextmanager
def chromium_session():
    """A browser for tests outside tests/ui: Playwright's sync API keeps an event loop running in the thread
    while it is open, so other directories must close it when their module ends (asyncio.run in later tests)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright import sync_api  # requirements-test.txt; a missing package is an error, not a skip

    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = launch_chromium(playwright_instance)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def webui(tmp_path_factory):
    """The WebUI server every browser test shares (tests must leave its options as they found them)."""
    data_dir = make_data_dir(tmp_path_factory.mktemp("webui"), {"tiny-a.safetensors": 0})
    (data_dir / "styles.csv").write_text(STYLES_CSV, encoding="utf-8")
    server = EaselServer(data_dir, webui=True).start()
    yield server
    server.stop()


def new_page(browser, server, *, width: int = 1400, errors: list[str] | None = None):
    """A fresh browser context on `server`'s WebUI, loaded (JavaScript errors go to `errors`)."""
    context = browser.new_context(viewport={"width": width, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    if errors is not None:
        page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/")
    page.wait_for_selector("#txt2img_prompt textarea")
    return page


@pytest.fixture()
def page(browser, webui):
    errors: list[str] = []
    page = new_page(browser, webui, errors=errors)
    yield page
    page.context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def open_tab(page, title: str) -> None:
    page.get_by_role("tab", name=title, exact=True).first.click()


def choose(page, elem_id: str, option: str) -> None:
    """Pick `option` in the Gradio dropdown `elem_id`."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def selected_tokens(page, elem_id: str) -> list[str]:
    """The values a multiselect dropdown shows as chosen."""
    return [t.strip() for t in page.locator(f"#{elem_id} .token span:first-child").all_inner_texts()]


def text_of(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first.input_value()


def fill_text(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.blur()


def gallery_images(page, tab: str):
    """The result images of a tab's gallery (not the live preview, which is beside the gallery)."""
    return page.locator(f"#{tab}_gallery img")


def set_number(page, elem_id: str, value) -> None:
    """Type into the number box of a slider/number component and commit it."""
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(str(value))
    box.press("Enter")
    box.blur()


def small_job(page, tab: str, steps: int = 3, size: int = 64) -> None:
    set_number(page, f"{tab}_steps", steps)
    set_number(page, f"{tab}_width", size)
    set_number(page, f"{tab}_height", size)


def upload_to_editor(page, elem_id: str, path) -> None:
    """Put an image into a Gradio ImageEditor once its canvas (pixi.js, initialised asynchronously) is ready."""
    editor = page.locator(f"#{elem_id}")
    editor.get_by_text("Upload an image").wait_for()
    page.wait_for_function(  # the WebGL canvas exists and the zoom of the empty canvas is shown
        f"""() => {{ const e = document.querySelector('#{elem_id}');
                   const c = e && e.querySelector('canvas');
                   return c && c.width > 0 && /^\\d+%$/m.test(e.innerText); }}""")
    editor.locator("input[type=file]").set_input_files(str(path))
    editor.get_by_text("Upload an image").wait_for(state="detached")


def generate(page, tab: str = "txt2img") -> None:
    """Press Generate and wait until the tab's job (and the page's handling of its result) is done."""
    page.click(f"#{tab}_generate")
    page.wait_for_function(f"() => !document.body.classList.contains('easel-busy-{tab}')")
    page.wait_for_function(f"() => !document.querySelector('#{tab}_results .pending, #{tab}_results .generating')")
