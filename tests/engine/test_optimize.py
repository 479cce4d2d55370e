"""Per-pipeline settings after a load: channels_last where measured faster, fused QKV kept in step with LoRA."""
from __future__ import annotations

import copy

import pytest
import torch

from modules.cmd_args import build_parser
from modules.engine.devices import choose_precision
from modules.engine.lora import ActiveNetwork, LoraApplier, parse_network
from modules.engine.optimize import OptimizeSettings, PipelineOptimizer, fuse_qkv
from modules.model_registry.checkpoints import CheckpointInfo
from modules.model_registry.loader import load_pipeline
from modules.model_registry.tiny import write_tiny_checkpoint
from tests.networks.builders import lora_state

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("optimize")
    return write_tiny_checkpoint(root / "sd1.safetensors", family="sd1", seed=3), root / "cache"


def _load(tiny_file, precision):
    path, cache = tiny_file
    info = CheckpointInfo(filename=path, name=path.name, model_name=path.stem)
    return load_pipeline(info, device=CPU, dtype=torch.float32, cache_dir=cache,
                         dtypes=precision.component_dtypes()).pipe


def _unet_out(pipe):
    gen = torch.Generator().manual_seed(0)
    sample, context = torch.randn(2, 4, 16, 16, generator=gen), torch.randn(2, 77, 32, generator=gen)
    with torch.no_grad():
        return pipe.unet(sample, torch.tensor(500.0), encoder_hidden_states=context).sample


def test_cpu_bf16_puts_the_vae_in_channels_last_only(tiny_file):
    precision = choose_precision(build_parser().parse_args(["--use-cpu", "all", "--precision", "bf16"]))
    pipe = _load(tiny_file, precision)
    optimizer = PipelineOptimizer(OptimizeSettings(), precision)
    optimizer.apply(pipe, "sd1")
    assert pipe.vae.decoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert pipe.unet.conv_in.weight.is_contiguous()
    assert pipe.unet.dtype == pipe.vae.dtype == pipe.text_encoder.dtype == torch.bfloat16
    assert optimizer.compile_state(pipe) is None  # no --compile
    fp32 = choose_precision(build_parser().parse_args(["--use-cpu", "all"]))
    plain = _load(tiny_file, fp32)
    PipelineOptimizer(OptimizeSettings(), fp32).apply(plain, "sd1")
    assert plain.vae.decoder.conv_in.weight.is_contiguous()


def test_fused_qkv_follows_lora_patches_and_restores(tiny_file):
    fp32 = choose_precision(build_parser().parse_args(["--use-cpu", "all"]))
    reference, fused = _load(tiny_file, fp32), _load(tiny_file, fp32)
    assert fuse_qkv(fused) > 0
    before = _unet_out(fused)
    assert torch.allclose(before, _unet_out(reference), atol=1e-5)
    parsed = parse_network(lora_state(1))  # patches attn1.to_q, attn2.to_k, attn2.to_v among others
    appliers = {id(pipe): LoraApplier() for pipe in (reference, fused)}
    for pipe in (reference, fused):
        assert not appliers[id(pipe)].apply(pipe, [ActiveNetwork("a", parsed, te=1.0, unet=1.0)])
    patched = _unet_out(fused)
    assert not torch.allclose(patched, before, atol=1e-4)  # the fused weights took the patch...
    assert torch.allclose(patched, _unet_out(reference), atol=1e-5)  # ...exactly as the unfused model did
    appliers[id(fused)].restore()
    assert torch.equal(_unet_out(fused), before)


def test_optimizer_applies_once(tiny_file):
    fp32 = choose_precision(build_parser().parse_args(["--use-cpu", "all"]))
    pipe = _load(tiny_file, fp32)
    optimizer = PipelineOptimizer(OptimizeSettings(fuse_qkv=True), fp32)
    optimizer.apply(pipe, "sd1")
    fused = copy.copy(pipe.unet.attn_processors)
    optimizer.apply(pipe, "sd1")  # a switch back from the RAM cache re-activates the same pipe
    assert pipe.unet.attn_processors.keys() == fused.keys()
