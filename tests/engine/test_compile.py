"""--compile: shape buckets (bounded, eager beyond), weights seen in place, warm-up that real requests reuse.

These use dynamo's "eager" backend: the same tracing, guards and recompilations as inductor without generating
code (which takes minutes on this CPU); inductor itself is measured in benchmarks/compile.py. The bucket logic is
tested on a small module (tracing the UNet takes tens of seconds even without code generation); the server
test runs the real UNet and VAE decoder.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from modules.cmd_args import build_parser
from modules.engine.compile import CompileStats, compile_module, parse_sizes
from modules.engine.optimize import BACKEND_ENV
from tests.support import EaselServer, decode_b64_image, make_data_dir

SMALL = {"prompt": "a red house", "negative_prompt": "blurry", "steps": 3, "width": 64, "height": 64, "seed": 5}


def test_parse_sizes():
    assert parse_sizes("512x512, 768x1024") == [(512, 512), (768, 1024)]
    assert parse_sizes("") == []
    for bad in ("512", "512x", "500x512", "ax512"):
        with pytest.raises(ValueError, match="--compile-warmup"):
            parse_sizes(bad)


def test_bad_warmup_flag_is_refused(capsys):
    with pytest.raises(SystemExit) as err:
        build_parser().parse_args(["--compile", "--compile-warmup", "512x51"])
    assert err.value.code == 2 and "--compile-warmup" in capsys.readouterr().err


class TinyDenoiser(torch.nn.Module):
    """The UNet's call signature (sample, timestep, encoder_hidden_states) on a few weights."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.proj = torch.nn.Linear(8, 4)

    def forward(self, sample, timestep, encoder_hidden_states):
        context = self.proj(encoder_hidden_states).mean(1)[:, :, None, None]
        return self.conv(sample) * (timestep.float() / 1000) + context


def _call(module, size: int, timestep=None):
    gen = torch.Generator().manual_seed(size)
    sample, context = torch.randn(2, 4, size, size, generator=gen), torch.randn(2, 77, 8, generator=gen)
    with torch.no_grad():
        return module(sample, torch.tensor(500.0) if timestep is None else timestep, encoder_hidden_states=context)


@pytest.fixture()
def module():
    return TinyDenoiser().eval()


def test_buckets_are_bounded_and_outputs_exact(module):
    eager = {size: _call(module, size) for size in (8, 12, 16)}
    keys_before = set(module.state_dict())
    stats = CompileStats(mode="default")
    compile_module(module, "unet", "default", 2, stats, backend="eager")
    assert torch.equal(_call(module, 8), eager[8])
    assert torch.equal(_call(module, 12), eager[12])
    assert torch.equal(_call(module, 8), eager[8])  # the same bucket again: no new compilation
    assert [b.shape.split(",")[0] for b in stats.buckets] == ["2x4x8x8:float32", "2x4x12x12:float32"]
    assert torch.equal(_call(module, 16), eager[16])  # a third shape runs eagerly
    assert stats.eager_calls == 1 and len(stats.buckets) == 2
    assert set(module.state_dict()) == keys_before  # identity and keys kept (no _orig_mod.)
    assert compile_module(module, "unet", "default", 2, stats, backend="eager") is module.forward  # idempotent


def test_integer_timesteps_share_the_float_bucket(module):
    want = _call(module, 8, timestep=torch.tensor(500.0))
    stats = CompileStats()
    compile_module(module, "unet", "default", 4, stats, backend="eager")
    _call(module, 8, timestep=torch.tensor(500.0))
    got = _call(module, 8, timestep=torch.tensor(500))  # DDIM / DPM++ pass int64 timesteps
    assert len(stats.buckets) == 1 and torch.equal(got, want)


def test_weights_patched_in_place_are_seen(module):
    compile_module(module, "unet", "default", 4, CompileStats(), backend="eager")
    before = _call(module, 8)
    with torch.no_grad():
        original = module.conv.weight.clone()
        module.conv.weight.mul_(1.5)  # what a LoRA patch does
        patched = _call(module, 8)
        module.conv.weight.copy_(original)
    assert not torch.equal(patched, before)
    assert torch.equal(_call(module, 8), before)


def _pixels(b64: str) -> np.ndarray:
    return np.asarray(decode_b64_image(b64))


def test_server_requests_reuse_the_warmed_up_buckets(tmp_path, api):
    # the shared server runs the same tiny model (make_data_dir's default) without --compile
    # (pixels, not PNG bytes: the infotext's model hash differs, as safetensors writes its metadata in any order)
    want = {s: _pixels(api.post("/sdapi/v1/txt2img", json={**SMALL, "sampler_name": s}).json()["images"][0])
            for s in ("Euler", "DDIM")}
    server = EaselServer(make_data_dir(tmp_path / "compiled"), "--compile", "--compile-warmup", "64x64",
                         env={BACKEND_ENV: "eager"}).start()
    try:
        with server.client(timeout=600) as client:
            warmed = client.get("/sdapi/v1/memory").json()["easel"]["compile"]
            # the tiny VAE halves the size: a 64x64 image is a 32x32 latent
            assert [(b["component"], b["shape"].split(",")[0]) for b in warmed["buckets"]] == [
                ("unet", "2x4x32x32:float32"), ("vae.decoder", "1x4x32x32:float32")]
            for sampler in ("Euler", "DDIM"):
                response = client.post("/sdapi/v1/txt2img", json={**SMALL, "sampler_name": sampler})
                assert response.status_code == 200, response.text
                assert np.array_equal(_pixels(response.json()["images"][0]), want[sampler])
            after = client.get("/sdapi/v1/memory").json()["easel"]["compile"]
            assert after["buckets"] == warmed["buckets"] and after["eager_calls"] == 0
    finally:
        server.stop()
