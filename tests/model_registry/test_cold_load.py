"""The lazy single-file load: exactly the weights of the eager diffusers conversion, cast once, read once.

The reference is the previous loading path, spelled out here with the public converters: safetensors'
`load_file`, diffusers' `convert_ldm_unet_checkpoint` / `convert_ldm_vae_checkpoint` /
`convert_open_clip_checkpoint`, then `.to(dtype)`.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from modules.errors import ModelLoadError
from modules.model_registry import arch
from modules.model_registry import components as comp
from modules.model_registry.checkpoints import CheckpointInfo
from modules.model_registry.converted import convert_single_file, prepare
from modules.model_registry.family import SD1_CLIP, SD2_OPENCLIP, SDXL_CLIP, SDXL_OPENCLIP
from modules.model_registry.loader import load_pipeline
from modules.model_registry.safe_load import open_checkpoint
from modules.model_registry.tensor_file import materialize, open_safetensors
from modules.model_registry.tiny import write_tiny_checkpoint, write_tiny_vae
from modules.model_registry.vae import load_vae_into

CPU = torch.device("cpu")


def _openclip_reference(state, prefix):
    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint

    width = int(state[prefix + "token_embedding.weight"].shape[1])
    stub = SimpleNamespace(config=SimpleNamespace(hidden_size=width))
    out = convert_open_clip_checkpoint(stub, {k: v for k, v in state.items() if k.startswith(prefix)}, prefix=prefix)
    return {k.removeprefix("text_model."): v for k, v in out.items()}


def reference_state(path, family: str, dtype: torch.dtype) -> dict[str, dict[str, torch.Tensor]]:
    """{component: state dict} the eager path produced: load_file + diffusers' converters + .to(dtype)."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint

    state = load_file(str(path))
    raw = open_checkpoint(path)
    converted = convert_single_file(raw)  # only for the inferred configs
    out = {"unet": convert_ldm_unet_checkpoint(state, converted.configs["unet"]),
           "vae": convert_ldm_vae_checkpoint(comp.vae_subset(state), converted.configs["vae"])}
    if family == "sd1":
        out["text_encoder"] = comp.convert_clip(state, SD1_CLIP)
    elif family == "sd2":
        out["text_encoder"] = _openclip_reference(state, SD2_OPENCLIP)
    else:
        out["text_encoder"] = comp.convert_clip(state, SDXL_CLIP)
        out["text_encoder_2"] = _openclip_reference(state, SDXL_OPENCLIP)
    raw.source.close()
    return {name: {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()}
            for name, sd in out.items()}


def _as_module_keys(name: str, module, state: dict) -> dict:
    return comp.text_encoder_keys(module, state) if name.startswith("text_encoder") else state


def assert_equal_to_reference(pipe, reference: dict) -> None:
    for name, want in reference.items():
        module = getattr(pipe, name)
        want = _as_module_keys(name, module, want)
        got = module.state_dict()
        assert set(got) <= set(want), (name, sorted(set(got) - set(want))[:3])
        different = [k for k in got if got[k].dtype != want[k].dtype or not torch.equal(got[k], want[k])]
        assert not different, f"{name}: {different[:3]}"


def _fp16_copy(src, dst):
    save_file({k: v.half() if v.is_floating_point() else v for k, v in load_file(str(src)).items()}, str(dst),
              metadata=open_safetensors(src).metadata)
    return dst


def _info(path) -> CheckpointInfo:
    return CheckpointInfo(filename=path, name=path.name, model_name=path.stem)


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_weights_equal_the_eager_conversion(tmp_path, token_cache, family, dtype):
    path = _fp16_copy(write_tiny_checkpoint(tmp_path / "fp32.safetensors", family=family, seed=3),
                      tmp_path / "fp16.safetensors")
    loaded = load_pipeline(_info(path), device=CPU, dtype=dtype, cache_dir=token_cache)
    assert loaded.family == family
    assert_equal_to_reference(loaded.pipe, reference_state(path, family, dtype))


def test_component_dtypes_are_cast_once(tmp_path, token_cache):
    path = _fp16_copy(write_tiny_checkpoint(tmp_path / "fp32.safetensors", family="sd1", seed=4),
                      tmp_path / "fp16.safetensors")
    dtypes = {"unet": torch.bfloat16, "vae": torch.float32, "text_encoder": torch.float16}
    pipe = load_pipeline(_info(path), device=CPU, dtype=torch.float32, cache_dir=token_cache, dtypes=dtypes).pipe
    assert (pipe.unet.dtype, pipe.vae.dtype, pipe.text_encoder.dtype) == (torch.bfloat16, torch.float32, torch.float16)
    for name, dtype in dtypes.items():
        assert_equal_to_reference(pipe, {name: reference_state(path, "sd1", dtype)[name]})


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_conversion_reads_no_data(tiny_files, family):
    """Every tensor the modules take is still a view of the file after conversion (read later, by pread),
    except SDXL's transposed text projection."""
    raw = open_checkpoint(tiny_files[family])
    _modules, prepared = prepare(convert_single_file(raw))
    not_views = [f"{name}/{key}" for name, state in prepared.tensors.items() for key, t in state.items()
                 if raw.source.file_offset(t) is None]
    assert not_views == (["text_encoder_2/text_projection.weight"] if family == "sdxl" else [])
    raw.source.close()


def test_materialize_casts_views_and_copies_the_rest(tmp_path):
    path = tmp_path / "t.safetensors"
    a, b = torch.randn(3, 5).half(), torch.arange(6, dtype=torch.int64)
    save_file({"a": a, "b": b}, str(path))
    with open_safetensors(path) as source:
        views = source.tensors
        out = materialize([("a", views["a"], torch.float32), ("aT", views["a"].T, torch.bfloat16),
                           ("b", views["b"], torch.float32)], source)
    assert out["a"].dtype == torch.float32 and torch.equal(out["a"], a.float())
    assert torch.equal(out["aT"], a.T.to(torch.bfloat16))
    assert out["b"].dtype == torch.int64 and torch.equal(out["b"], b)


def test_truncated_or_out_of_bounds_files_are_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"w": torch.ones(1000)}, str(path))
    data = path.read_bytes()
    (tmp_path / "short.safetensors").write_bytes(data[:-100])
    with pytest.raises(ModelLoadError, match="out of bounds"):
        open_safetensors(tmp_path / "short.safetensors")
    (tmp_path / "header.safetensors").write_bytes((10 ** 9).to_bytes(8, "little") + data[8:])
    with pytest.raises(ModelLoadError, match="invalid header length"):
        open_safetensors(tmp_path / "header.safetensors")


def test_vae_override_equals_the_eager_conversion(tmp_path, tiny_files, token_cache):
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    vae_file = write_tiny_vae(tmp_path / "other.vae.safetensors", seed=11)
    pipe = load_pipeline(_info(tiny_files["sd1"]), device=CPU, dtype=torch.float32, cache_dir=token_cache).pipe
    load_vae_into(pipe, vae_file)
    state = load_file(str(vae_file))
    want = convert_ldm_vae_checkpoint(state, arch.infer_vae_config(state, "sd1"))
    got = pipe.vae.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in got)
