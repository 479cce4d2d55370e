"""Issue 18 items 1-2: nothing is written outside the data dir through output-folder options or save_dir."""
from __future__ import annotations

import os

import pytest

from tests.security.conftest import SMALL, TOKEN, error_text, listing
from tests.support import png_b64

OUTDIR_OPTIONS = ("outdir_samples", "outdir_txt2img_samples", "outdir_img2img_samples", "outdir_extras_samples",
                  "outdir_txt2img_grids", "outdir_img2img_grids")


def _escapes(server) -> list[str]:
    """Spellings of the sentinel folder next to the data dir: absolute, relative with '..', via a symlink."""
    link = server.data_dir / "outputs" / "link-out"
    if not os.path.lexists(link):
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(server.outside, target_is_directory=True)
    relative = os.path.relpath(server.outside, server.data_dir)
    return [str(server.outside), relative, f"outputs/../{relative}", "outputs/link-out", "outputs/link-out/sub",
            "private"]


@pytest.mark.parametrize("option", OUTDIR_OPTIONS)
def test_options_route_refuses_folders_outside(api, secure_server, option):
    before = api.get("/sdapi/v1/options").json()[option]
    for value in _escapes(secure_server):
        response = api.post("/sdapi/v1/options", json={option: value})
        assert response.status_code == 403, (value, response.text)
        assert option in error_text(response)
    assert api.get("/sdapi/v1/options").json()[option] == before
    assert listing(secure_server.outside) == []


@pytest.mark.parametrize("option,mode", [("outdir_txt2img_samples", "txt2img"), ("outdir_samples", "txt2img"),
                                         ("outdir_img2img_samples", "img2img"), ("outdir_samples", "img2img")])
def test_override_settings_refuse_folders_outside(api, secure_server, option, mode):
    body = {**SMALL, "save_images": True}
    if mode == "img2img":
        from PIL import Image

        body["init_images"] = [png_b64(Image.new("RGB", (64, 64), "red"))]
    for value in _escapes(secure_server):
        response = api.post(f"/sdapi/v1/{mode}", json={**body, "override_settings": {option: value}})
        assert response.status_code == 403, (value, response.text)
        assert option in error_text(response)
    assert listing(secure_server.outside) == []


def test_an_outputs_folder_swapped_for_a_symlink_is_refused_when_used(api, secure_server):
    """Confined when set, and checked again where the images are written."""
    folder = secure_server.data_dir / "outputs" / "swapped"
    folder.mkdir(parents=True, exist_ok=True)
    body = {**SMALL, "save_images": True, "override_settings": {"outdir_txt2img_samples": "outputs/swapped"}}
    ok = api.post("/sdapi/v1/txt2img", json=body)
    assert ok.status_code == 200 and any(folder.rglob("*.png"))
    for child in sorted(folder.rglob("*"), reverse=True):
        child.unlink() if child.is_file() else child.rmdir()
    folder.rmdir()
    folder.symlink_to(secure_server.outside, target_is_directory=True)
    try:
        response = api.post("/sdapi/v1/txt2img", json=body)
        assert response.status_code == 403 and "outdir_txt2img_samples" in error_text(response)
    finally:
        folder.unlink()
    assert listing(secure_server.outside) == []


def test_save_dir_checks_before_it_creates(api, secure_server):
    """data/x/txt2img-images -> outside: save_dir "x" is refused and no dated folder appears outside."""
    base = secure_server.data_dir / "x"
    base.mkdir(exist_ok=True)
    (base / "txt2img-images").symlink_to(secure_server.outside, target_is_directory=True)
    try:
        body = {**SMALL, "alwayson_scripts": {"save_dir": "x"}}
        response = api.post("/sdapi/v1/txt2img", json=body, headers={"Token": TOKEN})
        assert response.status_code == 403, response.text
        assert response.json()["parameters"]["status"] == 403
    finally:
        (base / "txt2img-images").unlink()
    assert listing(secure_server.outside) == []
