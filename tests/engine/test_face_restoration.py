"""Face restoration: Haar detection on scikit-image's astronaut, aligned crops, GFPGAN and CodeFormer (random weights
in the real layouts) changing only the face region, and the choice of restorer."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from modules.engine.face_align import FACE_SIZE, _crop_mask, crop_face, face_matrix
from modules.engine.face_detect import detect_faces
from modules.engine.face_restoration import FaceRestorers
from modules.errors import InvalidRequestError
from modules.model_registry.sr_models import SrModelRegistry, model_folders
from modules.options import Options
from modules.shared_options import default_options
from tests.sr_support import write_codeformer, write_gfpgan

CPU = SimpleNamespace(device=torch.device("cpu"), unet_dtype=torch.float32)
ASTRONAUT = data.astronaut()  # 512x512 RGB, one face at about (177, 66, 95, 95)


@pytest.fixture(scope="module")
def restorers(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces") / "models"
    write_gfpgan(root / "GFPGAN" / "GFPGANv1.4.pth")
    write_codeformer(root / "Codeformer" / "codeformer-v0.1.0.pth")
    folders = model_folders(root, SimpleNamespace())
    registry = SrModelRegistry(folders)
    registry.refresh()
    return FaceRestorers(registry, Options(default_options()), CPU, folders=folders)


def _crop_support(face) -> np.ndarray:
    """Image pixels the pasted crop may touch (the inverse-warped crop square, one pixel of slack)."""
    import cv2

    inverse = cv2.invertAffineTransform(face_matrix(face))
    support = cv2.warpAffine(np.ones((FACE_SIZE, FACE_SIZE), np.uint8), inverse, ASTRONAUT.shape[1::-1],
                             flags=cv2.INTER_NEAREST)
    return cv2.dilate(support, np.ones((3, 3), np.uint8)) > 0


def test_haar_finds_the_astronauts_face_and_eyes():
    faces = detect_faces(ASTRONAUT)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 150 and 70 < w < 130
    assert faces[0].eyes is not None
    (lx, ly), (rx, ry) = faces[0].eyes
    assert x < lx < rx < x + w and y < ly < y + h / 2 and abs(ly - ry) < h / 5
    assert detect_faces(np.full((256, 256, 3), 128, np.uint8)) == []


def test_aligned_crop_puts_the_face_in_the_middle():
    face = detect_faces(ASTRONAUT)[0]
    crop = crop_face(ASTRONAUT, face_matrix(face))
    assert crop.shape == (FACE_SIZE, FACE_SIZE, 3)
    again = detect_faces(crop)  # the face fills the aligned crop like an FFHQ face does
    assert len(again) == 1
    x, y, w, h = again[0].box
    assert abs(x + w / 2 - 256) < 40 and 180 < w < 360
    box_only = face_matrix(type(face)(face.box, None))  # without eyes the box places a similar crop
    assert np.abs(box_only - face_matrix(face)).max() < 0.3 * np.abs(face_matrix(face)).max()
    mask = _crop_mask()
    assert mask[256, 256] == 1 and mask[0, 0] < 0.05 and mask.min() >= 0


@pytest.mark.parametrize("name", ["GFPGAN", "CodeFormer"])
def test_restoration_changes_only_the_face_region(restorers, name):
    image = Image.fromarray(ASTRONAUT)
    out = restorers.restore(image, name, codeformer_weight=0.5)
    assert out.size == image.size and out.mode == "RGB"
    changed = np.any(np.asarray(out) != ASTRONAUT, axis=2)
    face = detect_faces(ASTRONAUT)[0]
    x, y, w, h = face.box
    assert changed[y:y + h, x:x + w].mean() > 0.9  # the face itself is repainted (random weights)
    assert not changed[~_crop_support(face)].any()  # nothing outside the aligned crop
    assert changed.mean() < 0.35
    if name == "GFPGAN":  # fixed noise: the same input gives the same bytes
        assert restorers.restore(image, name).tobytes() == out.tobytes()


def test_no_face_means_no_change_and_the_choice_of_restorer(restorers):
    flat = Image.new("RGB", (200, 160), (120, 130, 140))
    assert restorers.restore(flat, "GFPGAN").tobytes() == flat.tobytes()
    assert restorers.installed() == ["CodeFormer", "GFPGAN"]
    assert [r["name"] for r in restorers.listing()] == ["CodeFormer", "GFPGAN"]
    assert restorers.listing()[1]["cmd_dir"].endswith("GFPGAN")
    assert restorers.label() == "CodeFormer"  # the option's default
    restorers.options.set("face_restoration_model", "GFPGAN", is_api=False, run_callbacks=False)
    assert restorers.label() == "GFPGAN"
    restorers.options.set("face_restoration_model", "CodeFormer", is_api=False, run_callbacks=False)
    rgba = Image.new("RGBA", (64, 64), (10, 20, 30, 77))
    assert restorers.restore(rgba, "CodeFormer").getchannel("A").getextrema() == (77, 77)


def test_missing_restorer_is_a_clear_error(tmp_path):
    folders = model_folders(tmp_path / "models", SimpleNamespace())
    registry = SrModelRegistry(folders)
    registry.refresh()
    empty = FaceRestorers(registry, Options(default_options()), CPU, folders=folders)
    assert empty.installed() == [] and empty.label() == "none installed" and empty.choose() is None
    image = Image.fromarray(ASTRONAUT)
    assert empty.restore_generated([image])[0] is image
    with pytest.raises(InvalidRequestError) as e:
        empty.restore(image, "GFPGAN", field="gfpgan_visibility")
    assert e.value.field == "gfpgan_visibility" and "GFPGAN is not installed" in e.value.message
    with pytest.raises(InvalidRequestError):
        empty.restore(image, "RestoreFormer")
