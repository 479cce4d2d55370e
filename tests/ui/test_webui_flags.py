"""--gradio-auth protects the WebUI (and its /internal routes); --always-hide-tabs hides the named tabs."""
from __future__ import annotations

import httpx
import pytest

from tests.support import EaselServer, make_data_dir


@pytest.fixture(scope="module")
def protected(tmp_path_factory):
    server = EaselServer(make_data_dir(tmp_path_factory.mktemp("auth")), "--gradio-auth", "alice:wonder,bob:builder",
                         "--always-hide-tabs", "Extras, beautifulprompt", webui=True).start()
    yield server
    server.stop()


def test_login_required_and_tabs_hidden(browser, protected):
    progress = {"id_task": "task(nothing)", "id_live_preview": -1}
    assert httpx.post(protected.url + "/internal/progress", json=progress).status_code == 401
    assert httpx.get(protected.url + "/internal/pending-tasks").status_code == 401
    assert httpx.post(protected.url + "/login", data={"username": "alice", "password": "nope"}).status_code >= 400
    context = browser.new_context()
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        page.goto(protected.url + "/")
        page.get_by_label("username").fill("alice")
        page.get_by_label("password").fill("wonder")
        page.get_by_role("button", name="Login").click()
        page.locator("#txt2img_prompt textarea").wait_for()
        tabs = [t.strip() for t in page.get_by_role("tab").all_inner_texts()]
        assert {"txt2img", "img2img", "PNG Info", "FileBrowser", "Settings"} <= set(tabs)
        assert "Extras" not in tabs and "BeautifulPrompt" not in tabs
        response = page.request.post(protected.url + "/internal/progress", data=progress)  # the login cookie
        assert response.status == 200 and response.json()["completed"] is False
    finally:
        context.close()
