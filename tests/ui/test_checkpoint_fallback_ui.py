"""Bug 2: deleting (or moving) the selected checkpoint in the FileBrowser left the picker blank, every generation
failing, and the server pointing at the deleted file. Now the confirmation warns, and the server falls back to
another checkpoint (following a moved file), logs it and shows it in the WebUI."""
from __future__ import annotations

import re

import httpx
import pytest

from tests.support import EaselServer, make_data_dir
from tests.ui.conftest import generate, new_page, open_tab, small_job, text_of
from tests.ui.test_filebrowser_ui import open_folder, row


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    data_dir = make_data_dir(tmp_path_factory.mktemp("fallback"), {"tiny-a.safetensors": 0,
                                                                   "tiny-b.safetensors": 1})
    server = EaselServer(data_dir, "--ckpt", "tiny-b", webui=True).start()
    yield server
    server.stop()


def checkpoint_value(page) -> str:
    return page.locator("#setting_sd_model_checkpoint input").input_value()


def test_deleting_the_selected_checkpoint_warns_and_falls_back(browser, two_models):
    page = new_page(browser, two_models)
    assert checkpoint_value(page).startswith("tiny-b.safetensors")
    open_tab(page, "FileBrowser")
    open_folder(page, "models", "Stable-diffusion")
    assert "the selected checkpoint" in row(page, "tiny-b.safetensors").inner_text()
    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    row(page, "tiny-b.safetensors").get_by_role("button", name="Delete").click()
    row(page, "tiny-b.safetensors").wait_for(state="detached")
    assert "Warning: models/Stable-diffusion/tiny-b.safetensors is the selected checkpoint" in messages[0]

    # The server switched, said so in the log and in the page, and keeps working.
    page.wait_for_function("() => document.querySelector('#quicksettings_status').textContent.includes('switched')")
    status = page.locator("#quicksettings_status").inner_text()
    assert "tiny-b.safetensors" in status and "switched to tiny-a.safetensors" in status
    page.wait_for_function("() => document.querySelector('#setting_sd_model_checkpoint input').value"
                           ".startsWith('tiny-a')")
    assert "was removed; switched to tiny-a.safetensors" in two_models.log()
    options = httpx.get(two_models.url + "/sdapi/v1/options").json()
    assert options["sd_model_checkpoint"].startswith("tiny-a.safetensors")
    open_tab(page, "txt2img")
    page.fill("#txt2img_prompt textarea", "after the fallback")
    small_job(page, "txt2img", steps=2)
    generate(page)
    assert "Model: tiny-a" in text_of(page, "txt2img_info")
    page.reload()
    page.wait_for_selector("#txt2img_prompt textarea")
    page.wait_for_function("() => document.querySelector('#setting_sd_model_checkpoint input').value"
                           ".startsWith('tiny-a')")
    page.context.close()


def test_moving_the_selected_checkpoint_follows_it(browser, two_models):
    page = new_page(browser, two_models)
    open_tab(page, "FileBrowser")
    open_folder(page, "models", "Stable-diffusion")
    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message),
                                        dialog.accept("models/Stable-diffusion/renamed-a.safetensors")))
    row(page, "tiny-a.safetensors").get_by_role("button", name="Move").click()
    row(page, "renamed-a.safetensors").wait_for()
    assert "is the selected checkpoint" in messages[0]
    page.wait_for_function("() => document.querySelector('#setting_sd_model_checkpoint input').value"
                           ".startsWith('renamed-a')")
    assert re.search(r"moved: now renamed-a\.safetensors", page.locator("#quicksettings_status").inner_text())
    page.context.close()
