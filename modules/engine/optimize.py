"""Per-pipeline speed settings applied after each load: memory format, fused QKV, torch.compile.

- channels_last where it measured faster (CPU: the bf16 VAE; CUDA: UNet and VAE, see docs/performance.md);
- fused QKV projections (diffusers' `fuse_qkv_projections`, UNet) on CUDA with --compile; LoRA patches to the q/k/v
  weights are copied into the fused weight by `sync_fused_qkv` (lora.py calls it), so results stay exact;
- torch.compile of the UNet and the VAE decoder with --compile, warmed up for --compile-warmup sizes.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch

from modules.engine.compile import CompileSettings, CompileStats, compile_pipeline, warm_up
from modules.engine.devices import Precision

logger = logging.getLogger(__name__)
BACKEND_ENV = "EASEL_COMPILE_BACKEND"  # "eager": dynamo without code generation (tests, debugging)
_FUSED_ATTR = "_easel_fused_qkv"  # on the pipe: {id(q/k/v Linear): its Attention}


@dataclass
class OptimizeSettings:
    compile: CompileSettings = field(default_factory=CompileSettings)
    fuse_qkv: bool | None = None  # None: on CUDA with --compile

    @classmethod
    def from_cmd_opts(cls, cmd_opts) -> OptimizeSettings:
        from modules.engine.compile import parse_sizes

        compile_settings = CompileSettings(enabled=bool(getattr(cmd_opts, "compile", False)),
                                           mode=getattr(cmd_opts, "compile_mode", "auto") or "auto",
                                           warmup=parse_sizes(getattr(cmd_opts, "compile_warmup", "")),
                                           max_shapes=int(getattr(cmd_opts, "compile_max_shapes", 4)),
                                           backend=os.environ.get(BACKEND_ENV, "inductor"))
        return cls(compile=compile_settings)


def use_channels_last(precision: Precision, component: str) -> bool:
    """channels_last where it measured faster (docs/performance.md): on the CPU only the bf16 VAE (the UNet and
    float32 were slower); on CUDA both (the usual recommendation there, not measured on this project)."""
    if precision.device.type == "cuda":
        return True
    return precision.device.type == "cpu" and component == "vae" and precision.vae_dtype == torch.bfloat16


def fuse_qkv(pipe) -> int:
    """Fuse the q/k/v projections of the UNet's attention (diffusers); returns how many blocks were fused.

    Not the VAE: its one attention block gains nothing, and fused weights would change its state_dict keys,
    which VAE swapping compares.
    """
    parents: dict[int, torch.nn.Module] = {}
    for name in ("unet",):
        model = getattr(pipe, name)
        if not hasattr(model, "fuse_qkv_projections"):
            continue
        try:
            model.fuse_qkv_projections()
        except ValueError as exc:  # e.g. added-KV processors, which diffusers cannot fuse
            logger.info("fused QKV not available for the %s: %s", name, exc)
            continue
        for module in model.modules():
            if getattr(module, "fused_projections", False):
                for proj in ("to_q", "to_k", "to_v"):
                    parents[id(getattr(module, proj))] = module
    setattr(pipe, _FUSED_ATTR, parents)
    return len({id(m) for m in parents.values()})


@torch.no_grad()
def sync_fused_qkv(pipe, changed: list[torch.nn.Module]) -> None:
    """After q/k/v weights of a fused pipe changed in place (LoRA), copy them into the fused weights."""
    parents = getattr(pipe, _FUSED_ATTR, None)
    if not parents:
        return
    seen = set()
    for linear in changed:
        attn = parents.get(id(linear))
        if attn is None or id(attn) in seen:
            continue
        seen.add(id(attn))
        if getattr(attn, "is_cross_attention", False) and hasattr(attn, "to_kv"):  # the query stays separate
            attn.to_kv.weight.copy_(torch.cat([attn.to_k.weight, attn.to_v.weight]))
        elif hasattr(attn, "to_qkv"):
            attn.to_qkv.weight.copy_(torch.cat([attn.to_q.weight, attn.to_k.weight, attn.to_v.weight]))


class PipelineOptimizer:
    """Applies the settings to each newly loaded pipeline (once per pipeline); keeps the compile stats."""

    def __init__(self, settings: OptimizeSettings, precision: Precision):
        self.settings = settings
        self.precision = precision
        self.stats: dict[int, CompileStats] = {}

    def apply(self, pipe, family: str) -> None:
        if getattr(pipe, "_easel_optimized", False):
            return
        for name in ("unet", "vae"):
            if use_channels_last(self.precision, name):
                getattr(pipe, name).to(memory_format=torch.channels_last)
        compiling = self.settings.compile.enabled
        fuse = self.settings.fuse_qkv if self.settings.fuse_qkv is not None else (
            compiling and self.precision.device.type == "cuda")
        if fuse:
            logger.info("fused QKV projections in %d attention blocks", fuse_qkv(pipe))
        if compiling:
            self.stats[id(pipe)] = compile_pipeline(pipe, self.settings.compile, self.precision.device)
            if self.settings.compile.warmup:
                warm_up(pipe, family, self.settings.compile.warmup)
        pipe._easel_optimized = True

    def compile_state(self, pipe) -> dict | None:
        stats = self.stats.get(id(pipe)) if pipe is not None else None
        return stats.as_dict() if stats is not None else None

    def forget(self, pipe) -> None:
        self.stats.pop(id(pipe), None)
