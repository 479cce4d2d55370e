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


def fb_button(page, label: str):
    return page.locator("#filebrowser-root .fb-toolbar").get_by_role("button", name=label, exact=True)


def row(page, name: str):
    return page.locator("#filebrowser-root tbody tr", has=page.locator(".fb-name > :first-child", has_text=re.compile(
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


PRIVATE_NAMES = ("secrets.json", "tasks.sqlite3", "tasks.sqlite3-wal", "tasks.sqlite3-shm")


def test_secrets_and_the_task_database_are_out_of_reach(page, webui):
    """The signing secrets and the live task queue are never listed, served, zipped, moved or deleted."""
    root = webui.data_dir
    # The live ones (the task database, private/) are used as they are; only missing ones get a stand-in, and
    # only those are removed afterwards.
    made = []
    for rel in (*PRIVATE_NAMES, "private/secrets.json"):
        path = root / rel
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"SQLite format 3\x00 s3cret" if "tasks" in rel else b'{"k": "s3cret"}')
            made.append(path)
    try:
        open_tab(page, "FileBrowser")
        page.locator("#filebrowser-root .fb-table").wait_for()
        fb_button(page, "Refresh").click()
        page.locator("#filebrowser-root .fb-name", has_text=re.compile("^outputs$")).wait_for()
        names = page.locator("#filebrowser-root .fb-name a, #filebrowser-root .fb-name > span").all_inner_texts()
        assert "outputs" in names and "styles.csv" in names
        for hidden in (*PRIVATE_NAMES, "private"):
            assert hidden not in names, hidden
        # Select all + Download zip: the archive leaves them out.
        page.locator("#filebrowser-root .fb-select-all").check()
        with page.expect_download() as download:
            page.locator("#filebrowser-root .fb-bulk-zip").click()
        import zipfile

        archive = zipfile.ZipFile(download.value.path())
        assert "styles.csv" in archive.namelist() and "outputs/" in archive.namelist()
        assert not [n for n in archive.namelist() if "secret" in n or "tasks.sqlite3" in n or n.startswith("private")]
        page.locator("#filebrowser-root .fb-select-all").uncheck()
        with httpx.Client(base_url=webui.url) as http:  # and no spelling of their paths reaches them
            for name in (*PRIVATE_NAMES, "private/secrets.json", "./Secrets.json", "//tasks.sqlite3-wal",
                         str(root / "tasks.sqlite3-shm")):
                for method, route in (("GET", "/download"), ("GET", "/info"), ("GET", "/list"), ("DELETE", "/delete")):
                    response = http.request(method, API + route, params={"path": name})
                    assert response.status_code == 403, (method, route, name, response.status_code)
                    assert b"s3cret" not in response.content and b"SQLite" not in response.content
                moved = http.post(f"{API}/move", json={"src": name, "dst": "outputs/stolen"})
                assert moved.status_code == 403, name
            assert http.delete(f"{API}/delete", params={"path": "private"}).status_code == 403
        for name in PRIVATE_NAMES:
            assert (root / name).exists(), name
        assert (root / "private" / "secrets.json").exists() and not (root / "outputs" / "stolen").exists()
    finally:
        for path in made:
            path.unlink(missing_ok=True)


def test_bulk_actions_copy_path_checksums_and_info(page, webui):
    """Multi-select with bulk move/delete, "copy path", the sha256 column, the info panel closing on navigation and
    the infotext shown on hover."""
    from PIL import Image, PngImagePlugin

    folder = webui.data_dir / "outputs" / "bulk"
    folder.mkdir(parents=True, exist_ok=True)
    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", "a lighthouse\nSteps: 3, Seed: 9, Size: 16x16")
    Image.new("RGB", (16, 16), (10, 200, 90)).save(folder / "one.png", pnginfo=meta)
    (folder / "two.txt").write_text("two")
    (folder / "three.txt").write_text("three")
    open_tab(page, "FileBrowser")
    page.locator("#filebrowser-root .fb-table").wait_for()
    open_folder(page, "outputs", "bulk")

    row(page, "one.png").hover()  # the thumbnail and the infotext beside the pointer
    page.locator("#filebrowser-root .fb-hover", has_text="a lighthouse").wait_for()
    assert page.locator("#filebrowser-root .fb-hover img").is_visible()
    page.mouse.move(0, 0)

    row(page, "two.txt").get_by_role("button", name="Copy path").click()
    page.locator("#filebrowser-root .fb-status", has_text="Copied outputs/bulk/two.txt").wait_for()
    assert page.locator("#filebrowser-root").get_attribute("data-copied") == "outputs/bulk/two.txt"

    row(page, "two.txt").locator(".fb-select").check()
    row(page, "three.txt").locator(".fb-select").check()
    page.locator("#filebrowser-root .fb-selection-count", has_text="2 selected").wait_for()
    page.once("dialog", lambda dialog: dialog.accept("outputs"))
    page.locator("#filebrowser-root .fb-bulk-move").click()
    row(page, "two.txt").wait_for(state="detached")
    assert (webui.data_dir / "outputs" / "two.txt").exists() and (webui.data_dir / "outputs" / "three.txt").exists()
    assert page.locator("#filebrowser-root .fb-bulk").is_hidden()

    row(page, "one.png").get_by_role("button", name="Info").click()
    page.locator("#filebrowser-root .fb-info", has_text="image: 16x16 PNG").wait_for()
    fb_button(page, "Up").click()
    page.locator("#filebrowser-root .fb-name", has_text=re.compile("^bulk$")).wait_for()
    assert page.locator("#filebrowser-root .fb-info").is_hidden()  # navigating closed the info panel

    for name in ("two.txt", "three.txt"):
        row(page, name).locator(".fb-select").check()
    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.locator("#filebrowser-root .fb-bulk-delete").click()
    row(page, "two.txt").wait_for(state="detached")
    assert "Delete 2 item(s)" in messages[0]
    assert not (webui.data_dir / "outputs" / "two.txt").exists()
    assert not (webui.data_dir / "outputs" / "three.txt").exists()

    # The sha256 column: "compute" for an unhashed model file, then the short hash, kept by the registry's cache.
    lora = webui.data_dir / "models" / "Lora" / "unhashed.safetensors"
    lora.write_bytes(b"\x00lora" * 100)
    fb_button(page, "Up").click()
    open_folder(page, "models", "Lora")
    digest = hashlib.sha256(lora.read_bytes()).hexdigest()
    row(page, "unhashed.safetensors").locator(".fb-compute").click()
    row(page, "unhashed.safetensors").locator(".fb-col-sha code", has_text=digest[:10]).wait_for()
    fb_button(page, "Refresh").click()
    row(page, "unhashed.safetensors").locator(".fb-col-sha code", has_text=digest[:10]).wait_for()
    lora.unlink()
    import shutil

    shutil.rmtree(folder)
