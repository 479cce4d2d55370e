"""Tiny random upscaler and face-restoration weight files in the real key layouts, for the tests.

ESRGAN (RRDBNet) in xinntao's layout (`conv_first`, `body.N.rdbK.convJ`, ..., `conv_last`, as the Real-ESRGAN
release files) for x4 and for x2 / x1 with pixel-unshuffle (12 / 48 input channels), and in the old community layout
(`model.0`, `model.1.sub.N.RDBk.convj.0`, `model.3/6/8/10`, as 4x-UltraSharp); SwinIR, GFPGAN (v1 clean) and
CodeFormer built from spandrel's own architecture classes, whose state dicts are the original layouts.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file


def _conv(out_ch: int, in_ch: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """He-initialised 3x3 conv; the 3-channel output conv gets a mid-grey bias so images are not clipped black."""
    weight = torch.randn(out_ch, in_ch, 3, 3, generator=g) * (0.5 / (in_ch * 9)) ** 0.5
    bias = torch.full((out_ch,), 0.5) if out_ch == 3 else torch.randn(out_ch, generator=g) * 0.01
    return weight, bias


def esrgan_state_dict(*, scale: int = 4, feat: int = 8, grow: int = 32, blocks: int = 1, seed: int = 0,
                      old_layout: bool = False) -> dict[str, torch.Tensor]:
    """A random RRDBNet; scale 4 (two x2 upsamplers), or 2 / 1 with pixel-unshuffle in front (new layout only)."""
    g = torch.Generator().manual_seed(seed)
    in_ch = 3 * {4: 1, 2: 4, 1: 16}[scale]
    sd: dict[str, torch.Tensor] = {}

    def put(name: str, out_ch: int, in_c: int) -> None:
        w, b = _conv(out_ch, in_c, g)
        sd[f"{name}.weight"], sd[f"{name}.bias"] = w, b

    if old_layout:
        assert scale == 4, "the old layout has no pixel-unshuffle"
        put("model.0", feat, 3)
        for n in range(blocks):
            for k in range(1, 4):
                for j in range(1, 6):
                    put(f"model.1.sub.{n}.RDB{k}.conv{j}.0", feat if j == 5 else grow, feat + (j - 1) * grow)
        put(f"model.1.sub.{blocks}", feat, feat)
        put("model.3", feat, feat)
        put("model.6", feat, feat)
        put("model.8", feat, feat)
        put("model.10", 3, feat)
        return sd
    put("conv_first", feat, in_ch)
    for n in range(blocks):
        for k in range(1, 4):
            for j in range(1, 6):
                put(f"body.{n}.rdb{k}.conv{j}", feat if j == 5 else grow, feat + (j - 1) * grow)
    put("conv_body", feat, feat)
    put("conv_up1", feat, feat)
    put("conv_up2", feat, feat)
    put("conv_hr", feat, feat)
    put("conv_last", 3, feat)
    return sd


def write_esrgan(path: Path, **kwargs) -> Path:
    """.safetensors as is; .pth wrapped in {"params_ema": ...} like the Real-ESRGAN release files."""
    sd = esrgan_state_dict(**kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(sd, str(path))
    else:
        torch.save({"params_ema": sd}, path)
    return path


def _spandrel_module(name: str):
    from modules.model_registry.spandrel_import import architecture_registry

    return architecture_registry()[name].architecture


def write_swinir(path: Path, *, scale: int = 2, seed: int = 0) -> Path:
    _spandrel_module("SwinIR")
    from spandrel.architectures.SwinIR import SwinIR

    torch.manual_seed(seed)
    model = SwinIR(img_size=16, embed_dim=12, depths=[1, 1], num_heads=[2, 2], window_size=4, upscale=scale,
                   upsampler="pixelshuffle", mlp_ratio=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params": model.state_dict()}, path)
    return path


def write_gfpgan(path: Path, *, seed: int = 0) -> Path:
    """GFPGAN v1.4's architecture (spandrel fixes its hyperparameters: 87 M parameters), random, as float16."""
    _spandrel_module("GFPGAN")  # imports spandrel through the torchvision shim
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(seed)
    sd = {k: v.half() if v.is_floating_point() else v for k, v in GFPGAN().state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": sd}, path)
    return path


def write_codeformer(path: Path, *, seed: int = 0) -> Path:
    """CodeFormer with a small transformer (the VQ autoencoder's sizes are fixed: 74 M parameters), as float16."""
    _spandrel_module("CodeFormer")
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

    torch.manual_seed(seed)
    model = CodeFormer(dim_embd=64, n_head=2, n_layers=1, codebook_size=64, latent_size=256)
    sd = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": sd}, path)
    return path
