"""spandrel upscalers: the torchvision shim, the folder scan, upscale shapes, tiling seams, interrupts, refresh."""
from __future__ import annotations

import logging
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from modules import upscalers
from modules.engine.sr_upscalers import SrUpscalers
from modules.engine.upscale_tiles import tile_starts, upscale_tiled
from modules.model_registry.sr_models import SrModelRegistry, model_folders
from modules.options import Options
from modules.shared_options import default_options
from tests.sr_support import write_esrgan, write_swinir
from tests.support import ROOT

CPU = SimpleNamespace(device=torch.device("cpu"), unet_dtype=torch.float32)


def _image(w: int = 72, h: int = 56, seed: int = 0) -> Image.Image:
    rng = np.random.RandomState(seed)
    base = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
    return Image.fromarray(np.clip(base + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8))


def _diff(a: Image.Image, b: Image.Image) -> np.ndarray:
    return np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sr") / "models"
    write_esrgan(root / "ESRGAN" / "tiny-x4.safetensors", scale=4, seed=3)
    write_esrgan(root / "ESRGAN" / "tiny-x4-old.pth", scale=4, seed=3, old_layout=True)
    write_esrgan(root / "RealESRGAN" / "RealESRGAN_x2plus.pth", scale=2, seed=4)
    write_esrgan(root / "ESRGAN" / "tiny-x1.pth", scale=1, seed=5)
    write_swinir(root / "SwinIR" / "tiny-swin-x2.pth", scale=2)
    (root / "ESRGAN" / "broken.pth").write_bytes(b"not a weight file")
    (root / "DAT").mkdir(parents=True)
    torch.save({"unrelated.weight": torch.zeros(4, 4)}, root / "DAT" / "unknown-arch.pth")
    return root


@pytest.fixture(scope="module")
def registry(models_dir):
    reg = SrModelRegistry(model_folders(models_dir, SimpleNamespace()))
    reg.refresh()
    return reg


def _descriptor(registry, name):
    entry = next(e for e in registry.upscalers() if e.name == name)
    return registry.load(entry, torch.device("cpu"))


def test_spandrel_imports_without_leaving_a_torchvision_behind():
    code = (
        "import importlib.util, sys\n"
        "from modules.model_registry.spandrel_import import architecture_registry\n"
        "reg = architecture_registry()\n"
        "assert 'spandrel' in sys.modules and len(reg) > 30, len(reg)\n"
        "assert not any(m == 'torchvision' or m.startswith('torchvision.') for m in sys.modules)\n"
        "assert importlib.util.find_spec('torchvision') is None\n"
        "ids = {str(a.architecture.id) for a in reg.architectures()}\n"
        "assert {'ESRGAN', 'SwinIR', 'DAT', 'HAT', 'GFPGAN'} <= ids and not ids & {'LaMa', 'RestoreFormer'}, ids\n"
        "from diffusers import StableDiffusionPipeline\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_scan_detects_architecture_and_scale(registry):
    listed = {e.name: (e.kind, e.architecture, e.scale) for e in registry.upscalers()}
    assert listed == {
        "tiny-x1": ("ESRGAN", "ESRGAN", 1),
        "tiny-x4-old": ("ESRGAN", "ESRGAN", 4),
        "tiny-x4": ("ESRGAN", "ESRGAN", 4),
        "R-ESRGAN 2x+": ("RealESRGAN", "ESRGAN", 2),  # A1111's label for RealESRGAN_x2plus.pth
        "tiny-swin-x2": ("SwinIR", "SwinIR", 2),
    }
    assert registry.face_models() == []


def test_unreadable_files_are_listed_nowhere_and_logged_once(models_dir, caplog):
    reg = SrModelRegistry(model_folders(models_dir, SimpleNamespace()))
    with caplog.at_level(logging.WARNING, logger="modules.model_registry.sr_models"):
        reg.refresh()
        reg.refresh()
    warned = [r.getMessage() for r in caplog.records]
    assert sum("broken.pth" in m for m in warned) == 1
    assert sum("unknown-arch.pth" in m and "does not know this architecture" in m for m in warned) == 1
    assert not {"broken", "unknown-arch"} & {e.name for e in reg.upscalers()}


def test_one_pass_gives_the_model_scale(registry):
    image = _image(40, 24)
    for name, scale in (("tiny-x4", 4), ("R-ESRGAN 2x+", 2), ("tiny-x1", 1), ("tiny-swin-x2", 2)):
        out = upscale_tiled(_descriptor(registry, name), image, tile=0, overlap=0)
        assert out.size == (40 * scale, 24 * scale) and out.mode == "RGB", name
        assert np.asarray(out).std() > 1, name  # not a blank image


def test_old_and_new_esrgan_layouts_give_the_same_image(registry):
    image = _image()
    new = upscale_tiled(_descriptor(registry, "tiny-x4"), image, tile=0, overlap=0)
    old = upscale_tiled(_descriptor(registry, "tiny-x4-old"), image, tile=0, overlap=0)
    assert new.tobytes() == old.tobytes()


@pytest.mark.parametrize("name", ["R-ESRGAN 2x+", "tiny-x4", "tiny-swin-x2"])
def test_tiled_equals_untiled_within_tolerance(registry, name):
    descriptor, image = _descriptor(registry, name), _image()
    whole = upscale_tiled(descriptor, image, tile=0, overlap=0)
    assert upscale_tiled(descriptor, image, tile=200, overlap=8).tobytes() == whole.tobytes()  # one tile
    blended = _diff(upscale_tiled(descriptor, image, tile=32, overlap=8), whole)
    butted = _diff(upscale_tiled(descriptor, image, tile=32, overlap=0), whole)  # tiles without overlap
    assert blended.mean() < 1.0, blended.mean()
    assert blended.mean() < 0.5 * butted.mean() and blended.max() < butted.max(), (blended.max(), butted.max())


def test_tile_starts_cover_with_overlap():
    assert tile_starts(100, 0, 8) == [0] and tile_starts(100, 100, 8) == [0]
    starts = tile_starts(100, 32, 8)
    assert starts[0] == 0 and starts[-1] == 68
    assert all(b - a <= 24 for a, b in zip(starts, starts[1:]))


def test_interrupt_between_tiles_still_returns_the_full_image(registry):
    descriptor, image = _descriptor(registry, "R-ESRGAN 2x+"), _image(96, 64)
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 1  # the first tile runs the model, the rest are resized

    out = upscale_tiled(descriptor, image, tile=32, overlap=8, should_stop=stop)
    assert out.size == (192, 128) and len(calls) == len(tile_starts(64, 32, 8)) * len(tile_starts(96, 32, 8))
    full = upscale_tiled(descriptor, image, tile=32, overlap=8)
    assert _diff(out, full)[:40, :40].max() == 0 and _diff(out, full)[80:, 120:].max() > 0


def test_registered_upscalers_follow_the_folders(models_dir, tmp_path):
    options = Options(default_options())
    folders = model_folders(models_dir, SimpleNamespace(esrgan_models_path=str(tmp_path / "extra")))
    sr = SrUpscalers(SrModelRegistry(folders), options, CPU)
    sr.refresh()
    try:
        info = upscalers.get_upscaler("R-ESRGAN 2x+")
        assert (info.scale, info.model_name) == (2, "RealESRGAN")
        # A1111 semantics on top: x4 model, scale 2 -> one pass then Lanczos down, size floored to multiples of 8
        assert upscalers.upscale(_image(44, 30), 2, "tiny-x4").size == (88, 56)
        options.set("ESRGAN_tile", 16, is_api=False, run_callbacks=False)
        assert upscalers.upscale(_image(44, 30), 2, "R-ESRGAN 2x+").size == (88, 56)
        write_esrgan(tmp_path / "extra" / "added-later.safetensors", scale=2, seed=9)
        assert "added-later" not in [u.name for u in upscalers.list_upscalers()]
        sr.refresh()
        assert upscalers.get_upscaler("added-later").scale == 2
        (tmp_path / "extra" / "added-later.safetensors").unlink()
        sr.refresh()
        assert "added-later" not in [u.name for u in upscalers.list_upscalers()]
    finally:
        for name in list(sr._names):
            upscalers.unregister_upscaler(name)
