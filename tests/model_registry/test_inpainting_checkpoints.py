"""9-channel inpainting checkpoints (sd-v1-5-inpainting layout, SDXL inpainting): single files and diffusers folders."""
from __future__ import annotations

import pytest
import torch

from modules.model_registry.checkpoints import CheckpointInfo
from modules.model_registry.family import is_inpainting
from modules.model_registry.loader import load_pipeline
from modules.model_registry.safe_load import load_checkpoint
from modules.model_registry.tiny import build_tiny_components, write_tiny_checkpoint

CPU = torch.device("cpu")


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_single_file_inpainting_checkpoint_loads_exactly(tmp_path, token_cache, family):
    path = write_tiny_checkpoint(tmp_path / f"{family}-inpainting.safetensors", family=family, seed=3, inpainting=True)
    assert is_inpainting(load_checkpoint(path).tensors)
    loaded = load_pipeline(CheckpointInfo(filename=path, name=path.name, model_name=path.stem), device=CPU,
                           dtype=torch.float32, cache_dir=token_cache)
    assert loaded.family == family
    unet = loaded.pipe.unet
    assert unet.config.in_channels == 9 and unet.config.out_channels == 4
    want = build_tiny_components(family, 3, inpainting=True)["unet"].state_dict()
    got = unet.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_sdxl_inpainting_diffusers_folder_is_sdxl(tmp_path, token_cache):
    from diffusers import StableDiffusionXLInpaintPipeline

    path = write_tiny_checkpoint(tmp_path / "xl-inpainting.safetensors", family="sdxl", inpainting=True)
    info = CheckpointInfo(filename=path, name=path.name, model_name=path.stem)
    pipe = load_pipeline(info, device=CPU, dtype=torch.float32, cache_dir=token_cache).pipe
    folder = tmp_path / "xl-inpainting-diffusers"
    StableDiffusionXLInpaintPipeline(**pipe.components).save_pretrained(folder)
    loaded = load_pipeline(CheckpointInfo(filename=folder, name=folder.name, model_name=folder.name,
                                          is_diffusers_dir=True), device=CPU, dtype=torch.float32,
                           cache_dir=token_cache)
    assert loaded.family == "sdxl" and loaded.pipe.unet.config.in_channels == 9
