"""The FileBrowser tab's object-store view in headless Chromium: a WebUI server on OSS (the protocol fake, which
checks signatures) shows a read-only browser over the store's outputs beside the data dir's browser; a
generated result is listed there, opens as a thumbnail, and its folder lists with the data-dir browser's
controls (no upload)."""
from __future__ import annotations

import re

import pytest

from tests.storage.conftest import BUCKET, OSS_KEY, OSS_SECRET
from tests.support import EaselServer, make_data_dir
from tests.tasks.helpers import SMALL, submit_async, wait_status
from tests.ui.conftest import chromium_session, new_page, open_tab

STORE = "#filebrowser-store-root"


@pytest.fixture()
def store_webui(tmp_path, fake_oss_factory):
    fake = fake_oss_factory()
    server = EaselServer(make_data_dir(tmp_path / "data"), "--storage-url", f"oss://{BUCKET}/ui",
                         "--oss-endpoint", fake.endpoint, "--oss-region", fake.region, webui=True,
                         env={"OSS_ACCESS_KEY_ID": OSS_KEY, "OSS_ACCESS_KEY_SECRET": OSS_SECRET}).start()
    yield server
    server.stop()


def test_the_object_store_view_lists_a_result_read_only(store_webui):
    with store_webui.client() as client:
        task_id = submit_async(client, SMALL)
        wait_status(client, task_id, "succeeded")
    with chromium_session() as browser:
        page = new_page(browser, store_webui)
        open_tab(page, "FileBrowser")
        page.locator("#filebrowser-root .fb-table").wait_for()
        page.locator("#filebrowser-store").get_by_text(re.compile(f"Object store, read-only: .*oss://{BUCKET}/ui")).click()
        page.locator(f"{STORE} .fb-table").wait_for()
        assert page.locator(f"{STORE} .fb-toolbar").get_by_role("button", name="Upload").count() == 0
        for name in ("tasks", task_id):
            page.locator(f"{STORE} .fb-name a", has_text=re.compile(f"^{re.escape(name)}$")).click()
            page.locator(f"{STORE} .fb-crumbs", has_text=name).wait_for()
        thumb = page.locator(f"{STORE} img.fb-thumb").first
        thumb.wait_for()
        page.wait_for_function(f"() => document.querySelector('{STORE} img.fb-thumb').naturalWidth > 0")
        assert "/filebrowser/api/store/thumbnail" in (thumb.get_attribute("src") or "")
