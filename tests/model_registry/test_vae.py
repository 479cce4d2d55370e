from __future__ import annotations

import pytest
import torch

from modules.errors import ModelNotFoundError
from modules.model_registry.checkpoints import CheckpointInfo
from modules.model_registry.loader import load_pipeline
from modules.model_registry.tiny import write_tiny_vae
from modules.model_registry.vae import VaeRegistry, current_vae, load_vae_into, restore_vae
from modules.paths import DataPaths


@pytest.fixture()
def vae_setup(tmp_path):
    paths = DataPaths.from_data_dir(tmp_path)
    ckpt = paths.ckpt_dir / "model.safetensors"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x")
    write_tiny_vae(paths.vae_dir / "vae-ft-mse.safetensors", seed=11)
    write_tiny_vae(paths.vae_dir / "model.vae.safetensors", seed=12)
    reg = VaeRegistry(paths)
    reg.refresh()
    return paths, reg, CheckpointInfo(filename=ckpt, name="model.safetensors", model_name="model")


def test_list_and_resolve(vae_setup, tmp_path):
    paths, reg, info = vae_setup
    assert [v.model_name for v in reg.list()] == ["model.vae.safetensors", "vae-ft-mse.safetensors"]
    assert reg.list()[0].as_api() == {"model_name": "model.vae.safetensors",
                                      "filename": str((paths.vae_dir / "model.vae.safetensors").resolve())}
    assert reg.resolve("None", info) is None
    assert reg.resolve("Automatic", info).name == "model.vae.safetensors"
    other = CheckpointInfo(filename=tmp_path / "other.safetensors", name="other.safetensors", model_name="other")
    assert reg.resolve("Automatic", other) is None
    assert reg.resolve("vae-ft-mse.safetensors").name == "vae-ft-mse.safetensors"
    assert reg.resolve("vae-ft-mse").name == "vae-ft-mse.safetensors"
    reg.check("vae-ft-mse.safetensors")
    with pytest.raises(ModelNotFoundError) as err:
        reg.resolve("vae-ft-ms.safetensors")
    assert err.value.field == "sd_vae" and "vae-ft-mse.safetensors" in err.value.message
    assert len(reg.shorthash(paths.vae_dir / "vae-ft-mse.safetensors")) == 10


def test_automatic_finds_vae_beside_checkpoint(tmp_path):
    paths = DataPaths.from_data_dir(tmp_path)
    ckpt = paths.ckpt_dir / "beside.safetensors"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x")
    vae_file = write_tiny_vae(paths.ckpt_dir / "beside.vae.pt".replace(".pt", ".safetensors"), seed=1)
    reg = VaeRegistry(paths)
    reg.refresh()
    assert reg.resolve("Automatic", ckpt) == vae_file.resolve()


def test_vae_swap_and_exact_restore(vae_setup, tiny_files, token_cache):
    paths, reg, _ = vae_setup
    info = CheckpointInfo(filename=tiny_files["sd1"], name="sd1.safetensors", model_name="sd1")
    pipe = load_pipeline(info, device=torch.device("cpu"), dtype=torch.float32, cache_dir=token_cache).pipe
    own = {k: v.clone() for k, v in pipe.vae.state_dict().items()}
    original = load_vae_into(pipe, reg.resolve("vae-ft-mse.safetensors"))
    assert current_vae(pipe).name == "vae-ft-mse.safetensors"
    swapped = pipe.vae.state_dict()
    assert not torch.equal(swapped["decoder.conv_in.weight"], own["decoder.conv_in.weight"])
    # a second swap keeps the checkpoint's own weights as the restore point
    load_vae_into(pipe, reg.resolve("model.vae.safetensors"))
    restore_vae(pipe, original)
    assert current_vae(pipe) is None
    restored = pipe.vae.state_dict()
    assert all(torch.equal(restored[k], own[k]) for k in own)
