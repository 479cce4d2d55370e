"""The FileBrowser tab in headless Chromium, and its REST routes with a standard tus client (tuspy)."""
from __future__ import annotations

import base64
import hashlib
import os
import re

import httpx
from tusclient import client as tus_client

from tests.ui.conftest import open_tab

API = "/filebrowser/api"


def open_folder(page, *names: str) -> None:
    for name in names:
        page.locator("#filebrowser-root .fb-name a", has_text=re.compile(f"^{re.escape(name)}$")).click()
        page.locator("#filebrowser-root .fb-crumbs", has_text=name).wait_for()


def row(page, name: str):
    return page.locator("#filebrowser-root tbody tr", has=page.locator(".fb-name", has_text=re.compile(
        f"^{re.escape(name)}$")))


def test_upload_checkpoint_in_chunks_and_pick_it(page, webui, tmp_path):
    from modules.model_registry.tiny import write_tiny_checkpoint

    source = write_tiny_checkpoint(tmp_path / "uploaded-tiny.safetensors", family="sd1", seed=5)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    open_tab(page, "FileBrowser")
    page.locator("#filebrowser-root .fb-table").wait_for()
    open_folder(page, "models", "Stable-diffusion")
    page.evaluate("() => { document.querySelector('#filebrowser-root').filebrowser.chunk = 4 * 1024 * 1024; }")
    patches = []
    page.on("request", lambda r: patches.append(r.url) if r.method == "PATCH" else None)
    page.locator("#filebrowser-root input[type=file]").set_input_files(str(source))
    done = page.locator("#filebrowser-root .fb-uploads", has_text="uploaded-tiny.safetensors: done, sha256")
    done.wait_for()
    assert digest[:12] in done.inner_text()
    assert len(patches) == -(-source.stat().st_size // (4 * 1024 * 1024)) >= 2  # it went in chunks
    row(page, "uploaded-tiny.safetensors").wait_for()
    stored = webui.data_dir / "models" / "Stable-diffusion" / "uploaded-tiny.safetensors"
    assert stored.read_bytes() == source.read_bytes()

    # The checkpoint picker follows the new file by itself, and picking it loads it.
    page.locator("#setting_sd_model_checkpoint input").click()
    option = page.get_by_role("option", name=re.compile(r"^uploaded-tiny\.safetensors"))
    option.wait_for()
    option.click()
    page.wait_for_function("() => document.querySelector('#quicksettings_status').textContent.includes('uploaded')")
    options = httpx.get(webui.url + "/sdapi/v1/options").json()
    assert options["sd_model_checkpoint"].startswith("uploaded-tiny.safetensors")
    page.locator("#setting_sd_model_checkpoint input").click()
    page.get_by_role("option", name=re.compile(r"^tiny-a\.safetensors")).click()
    page.wait_for_function("() => document.querySelector('#quicksettings_status').textContent.includes('tiny-a')")


def test_tus_resume_download_rename_delete(page, webui, tmp_path):
    data = os.urandom(900_000)
    source = tmp_path / "notes.bin"
    source.write_bytes(data)
    tus = tus_client.TusClient(webui.url + f"{API}/tus/")
    with open(source, "rb") as stream:
        first = tus.uploader(file_stream=stream, chunk_size=256 * 1024,
                             metadata={"filename": "notes.bin", "path": "outputs"})
        first.upload_chunk()  # ... and the connection is gone
    assert not (webui.data_dir / "outputs" / "notes.bin").exists()
    with open(source, "rb") as stream:  # a new client knows only the URL; the server says where it stopped
        resumed = tus.uploader(file_stream=stream, chunk_size=256 * 1024, url=first.url)
        assert resumed.offset == 256 * 1024
        resumed.upload()
    downloaded = httpx.get(webui.url + f"{API}/download", params={"path": "outputs/notes.bin"})
    assert downloaded.status_code == 200 and downloaded.content == data

    open_tab(page, "FileBrowser")
    page.locator("#filebrowser-root .fb-table").wait_for()
    open_folder(page, "outputs")
    page.once("dialog", lambda dialog: dialog.accept("outputs/renamed.bin"))
    row(page, "notes.bin").get_by_role("button", name="Move").click()
    row(page, "renamed.bin").wait_for()
    assert (webui.data_dir / "outputs" / "renamed.bin").read_bytes() == data
    assert not (webui.data_dir / "outputs" / "notes.bin").exists()

    page.once("dialog", lambda dialog: dialog.accept())  # "Delete outputs/renamed.bin?"
    row(page, "renamed.bin").get_by_role("button", name="Delete").click()
    row(page, "renamed.bin").wait_for(state="detached")
    assert not (webui.data_dir / "outputs" / "renamed.bin").exists()


def test_path_escapes_are_refused(webui, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    with httpx.Client(base_url=webui.url) as http:
        for params in ({"path": "../"}, {"path": "models/../../"}, {"path": str(outside)}):
            assert http.get(f"{API}/list", params=params).status_code in (400, 403, 404), params
            assert http.get(f"{API}/download", params=params).status_code in (400, 403, 404), params
        assert http.post(f"{API}/mkdir", json={"path": "../escaped"}).status_code in (400, 403)
        assert http.post(f"{API}/move", json={"src": "config.json", "dst": "../moved.json"}).status_code in (400, 403,
                                                                                                            404)
        assert http.delete(f"{API}/delete", params={"path": "../" + webui.data_dir.name}).status_code in (400, 403)
        encoded = f"filename {base64.b64encode(b'x.bin').decode()},path {base64.b64encode(b'../..').decode()}"
        created = http.post(f"{API}/tus/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "3",
                                                    "Upload-Metadata": encoded})
        assert created.status_code in (400, 403)
    assert webui.data_dir.exists() and not (webui.data_dir.parent / "escaped").exists()
