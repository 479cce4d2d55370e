from __future__ import annotations

import pytest
import torch

from modules.errors import ModelLoadError
from modules.model_registry.checkpoints import CheckpointInfo
from modules.model_registry.loader import load_pipeline
from modules.model_registry.tiny import build_tiny_components, write_tiny_checkpoint

CPU = torch.device("cpu")


def _info(path) -> CheckpointInfo:
    return CheckpointInfo(filename=path, name=path.name, model_name=path.stem)


def _assert_same_weights(pipe, family: str, seed: int) -> None:
    for name, module in build_tiny_components(family, seed).items():
        got, want = getattr(pipe, name).state_dict(), module.state_dict()
        assert set(got) == set(want), name
        different = [k for k in want if not torch.equal(got[k], want[k])]
        assert not different, f"{name}: {different[:3]}"


@pytest.mark.parametrize("key", ["sd1", "sd1_ckpt"])
def test_tiny_sd1_round_trip_exact(tiny_files, token_cache, key):
    loaded = load_pipeline(_info(tiny_files[key]), device=CPU, dtype=torch.float32, cache_dir=token_cache)
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"
    assert loaded.family == "sd1" and loaded.prediction_type == "epsilon"
    assert loaded.pipe.safety_checker is None
    _assert_same_weights(loaded.pipe, "sd1", 7)


def test_tiny_sd1_generates_64px(tiny_files, token_cache):
    pipe = load_pipeline(_info(tiny_files["sd1"]), device=CPU, dtype=torch.float32, cache_dir=token_cache).pipe
    image = pipe("a cat", num_inference_steps=2, height=64, width=64, output_type="pil").images[0]
    assert image.size == (64, 64) and image.mode == "RGB"


def test_seeds_give_different_models(tmp_path):
    a = build_tiny_components("sd1", 0)["unet"].conv_in.weight
    b = build_tiny_components("sd1", 1)["unet"].conv_in.weight
    assert not torch.equal(a, b)


def test_tiny_sdxl_loads_and_generates(tiny_files, token_cache):
    loaded = load_pipeline(_info(tiny_files["sdxl"]), device=CPU, dtype=torch.float32, cache_dir=token_cache)
    assert type(loaded.pipe).__name__ == "StableDiffusionXLPipeline" and loaded.family == "sdxl"
    assert loaded.pipe.tokenizer_2.pad_token == "!" and loaded.pipe.tokenizer.pad_token == "<|endoftext|>"
    _assert_same_weights(loaded.pipe, "sdxl", 7)
    image = loaded.pipe("a cat", num_inference_steps=2, height=64, width=64).images[0]
    assert image.size == (64, 64)


def test_tiny_sd2_loads(tiny_files, token_cache):
    loaded = load_pipeline(_info(tiny_files["sd2"]), device=CPU, dtype=torch.float32, cache_dir=token_cache)
    assert loaded.family == "sd2" and loaded.prediction_type == "v_prediction"
    assert loaded.pipe.scheduler.config.prediction_type == "v_prediction"
    assert loaded.pipe.tokenizer.pad_token == "!"
    _assert_same_weights(loaded.pipe, "sd2", 7)


def test_yaml_beside_file_sets_prediction_type(tmp_path, token_cache):
    path = write_tiny_checkpoint(tmp_path / "m.safetensors", family="sd1", seed=0)
    yaml = tmp_path / "m.yaml"
    yaml.write_text('model:\n  params:\n    parameterization: "v"\n')
    info = CheckpointInfo(filename=path, name=path.name, model_name="m", config=yaml)
    loaded = load_pipeline(info, device=CPU, dtype=torch.float32, cache_dir=token_cache)
    assert loaded.prediction_type == "v_prediction"


def test_bfloat16_load(tiny_files, token_cache):
    loaded = load_pipeline(_info(tiny_files["sd1"]), device=CPU, dtype=torch.bfloat16, cache_dir=token_cache)
    assert loaded.pipe.unet.dtype == torch.bfloat16 and loaded.pipe.text_encoder.dtype == torch.bfloat16


def test_diffusers_folder(tmp_path, tiny_files, token_cache):
    pipe = load_pipeline(_info(tiny_files["sd1"]), device=CPU, dtype=torch.float32, cache_dir=token_cache).pipe
    folder = tmp_path / "folder-model"
    pipe.save_pretrained(folder, safe_serialization=True)
    info = CheckpointInfo(filename=folder, name="folder-model", model_name="folder-model", is_diffusers_dir=True)
    loaded = load_pipeline(info, device=CPU, dtype=torch.float32, cache_dir=token_cache)
    assert loaded.family == "sd1"
    _assert_same_weights(loaded.pipe, "sd1", 7)


def test_unloadable_files_raise_model_load_error(tmp_path, token_cache):
    from safetensors.torch import save_file

    path = tmp_path / "weird.safetensors"
    save_file({"foo.weight": torch.ones(2)}, str(path))
    with pytest.raises(ModelLoadError, match="weird.safetensors"):
        load_pipeline(_info(path), device=CPU, dtype=torch.float32, cache_dir=token_cache)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="broken.safetensors"):
        load_pipeline(_info(broken), device=CPU, dtype=torch.float32, cache_dir=token_cache)
