"""API `save_images: true` writes A1111-style files with their infotext, through the image-saved callbacks."""
from __future__ import annotations

import json
import textwrap

from PIL import Image

from tests.support import ROOT, EaselServer, make_data_dir

RECORDER = '''
from modules import script_callbacks


def before(params):
    params.pnginfo["recorded-by"] = "test-extension"


def after(params):
    with open(params.filename + ".seen", "w") as f:
        f.write("saved")


script_callbacks.on_before_image_saved(before)
script_callbacks.on_image_saved(after)
'''


def test_save_images_writes_outputs_and_runs_callbacks(tmp_path):
    ext = ROOT / "extensions" / "test-save-recorder"
    (ext / "scripts").mkdir(parents=True, exist_ok=True)
    (ext / "scripts" / "recorder.py").write_text(textwrap.dedent(RECORDER))
    server = EaselServer(make_data_dir(tmp_path))
    try:
        server.start()
        with server.client() as client:
            body = {"prompt": "a boat", "steps": 3, "width": 64, "height": 64, "seed": 21, "batch_size": 2}
            unsaved = client.post("/sdapi/v1/txt2img", json=body)
            assert unsaved.status_code == 200
            saved = client.post("/sdapi/v1/txt2img", json={**body, "save_images": True})
            assert saved.status_code == 200
        infotexts = json.loads(saved.json()["info"])["infotexts"]
    finally:
        server.stop()
        import shutil

        shutil.rmtree(ext, ignore_errors=True)
    files = sorted((tmp_path / "outputs" / "txt2img-images").rglob("*.png"))
    assert [f.name.split("-", 1)[1] for f in files] == ["21.png", "22.png"]
    assert len(infotexts) == 3  # A1111: with save_images the batch grid comes first (tests/api/test_grids.py)
    grids = sorted((tmp_path / "outputs" / "txt2img-grids").rglob("grid-*.png"))
    assert len(grids) == 1 and grids[0].with_name(grids[0].name + ".seen").read_text() == "saved"
    for path, text in zip(files, infotexts[1:]):
        image = Image.open(path)
        assert image.info["parameters"] == text
        assert image.info["recorded-by"] == "test-extension"
        assert path.with_name(path.name + ".seen").read_text() == "saved"
