"""The WebUI of a process that only enqueues (--no-worker), in headless Chromium: its progress bar and live preview
follow a job that runs in a worker process, and its Interrupt button reaches that process."""
from __future__ import annotations

import httpx
import pytest

from tests.scaleout.cluster import ONE_THREAD, start_all
from tests.support import EaselServer
from tests.ui.conftest import chromium_session, set_number, small_job


@pytest.fixture(scope="module")
def browser():
    with chromium_session() as browser:
        yield browser


@pytest.fixture(scope="module")
def cluster_webui(cluster):
    """One more API process of the cluster, with the WebUI (and without --api-auth, as a plain WebUI)."""
    server = start_all([EaselServer(cluster.data_dir, *cluster.flags, "--no-worker", webui=True, env=ONE_THREAD)])[0]
    yield server
    server.stop()


def test_webui_progress_preview_and_interrupt_of_a_job_on_a_worker(browser, cluster_webui, cluster):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(90_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(cluster_webui.url + "/")
        page.wait_for_selector("#txt2img_prompt textarea")
        page.fill("#txt2img_prompt textarea", "a job on another process")
        small_job(page, "txt2img", steps=150)
        set_number(page, "txt2img_batch_count", 4)
        page.click("#txt2img_generate")
        page.wait_for_function("() => parseFloat(document.querySelector('#txt2img_progressbar')?.dataset.progress"
                               " || 0) > 0.005")
        page.locator("#txt2img_live_preview img").wait_for()
        job = httpx.get(cluster_webui.url + "/sdapi/v1/progress").json()["state"]["job"]
        running = httpx.get(cluster_webui.url + "/internal/workers").json()["workers"]
        assert job in [w["task"] for w in running]  # a worker process runs it, not the WebUI's process
        page.click("#txt2img_interrupt")
        page.wait_for_function("() => document.querySelector('#txt2img_html_log').textContent.includes('Interrupted')")
        page.wait_for_selector("#txt2img_progressbar", state="detached")
        assert httpx.get(f"{cluster_webui.url}/sdapi/v1/tasks/{job}").json()["status"] == "cancelled"
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
