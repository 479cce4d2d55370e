"""The independent reference of the sampler tests: the k-diffusion package (A1111 1.10's sampler library) driving
the same diffusers UNet the way A1111 does (CompVis denoiser over the LDM alphas_cumprod, CFG on the denoised
output, per-image noise generators standing in for `torch.randn_like`, Brownian trees seeded from the seeds).

k-diffusion's package __init__ imports torchvision (through k_diffusion.utils), which Easel never installs, so only
its `sampling` and `external` modules are loaded, with a stand-in for the one helper they take from utils.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import torch

_PACKAGE = "_kdiffusion_reference"


def load() -> tuple[types.ModuleType, types.ModuleType]:
    """(k_diffusion.sampling, k_diffusion.external) from the installed k-diffusion files."""
    if f"{_PACKAGE}.sampling" in sys.modules:
        return sys.modules[f"{_PACKAGE}.sampling"], sys.modules[f"{_PACKAGE}.external"]
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or spec.origin is None:
        raise RuntimeError("k-diffusion is not installed: run ./run_tests.sh (install.py --with-tests)")
    package = types.ModuleType(_PACKAGE)
    package.__path__ = [str(Path(spec.origin).parent)]
    sys.modules[_PACKAGE] = package
    utils = types.ModuleType(f"{_PACKAGE}.utils")

    def append_dims(x, target_dims):
        return x[(...,) + (None,) * (target_dims - x.ndim)]

    utils.append_dims = append_dims
    sys.modules[utils.__name__] = utils
    package.utils = utils
    sampling = importlib.import_module(f"{_PACKAGE}.sampling")
    external = importlib.import_module(f"{_PACKAGE}.external")
    # A1111 (sd_schedulers.py) replaces to_d with a plain division by the scalar sigma
    sampling.to_d = lambda x, sigma, denoised: (x - denoised) / sigma
    return sampling, external


def ldm_alphas_cumprod(beta_start: float = 0.00085, beta_end: float = 0.012, n: int = 1000) -> torch.Tensor:
    """LDM's register_schedule("linear"): float64 betas, cumulative product, stored as a float32 buffer."""
    betas = np.linspace(beta_start ** 0.5, beta_end ** 0.5, n, dtype=np.float64) ** 2
    return torch.tensor(np.cumprod(1.0 - betas), dtype=torch.float32)


class LdmModel:
    """What k-diffusion's CompVis denoisers need from A1111's model: alphas_cumprod and apply_model."""

    def __init__(self, unet, pooled: torch.Tensor | None = None, time_ids: torch.Tensor | None = None):
        self.unet = unet
        self.alphas_cumprod = ldm_alphas_cumprod()
        self.pooled = pooled  # (2B, P) for SDXL, in the cond/uncond order of the batch
        self.time_ids = time_ids

    def apply_model(self, x, t, cond):
        extra = {}
        if self.pooled is not None:
            extra["added_cond_kwargs"] = {"text_embeds": self.pooled,
                                          "time_ids": self.time_ids.unsqueeze(0).repeat(x.shape[0], 1)}
        return self.unet(x, t, encoder_hidden_states=cond, **extra).sample.float()


class ReferenceRNG:
    """A1111 rng.ImageRNG on the CPU source: per-seed generators; first() then next() draws; ENSD re-seeds.
    `first` replaces the initial noise (variation seeds)."""

    def __init__(self, shape, seeds, ensd: int = 0, first: torch.Tensor | None = None):
        self.shape, self.seeds, self.ensd, self.first = shape, seeds, ensd, first
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.first_done = False

    def next(self) -> torch.Tensor:
        noise = torch.stack([torch.randn(self.shape, generator=g) for g in self.generators])
        if not self.first_done and self.first is not None:
            noise = self.first
        if not self.first_done and self.ensd:
            self.generators = [torch.Generator().manual_seed(s + self.ensd) for s in self.seeds]
        self.first_done = True
        return noise


class TorchHijack:
    """A1111's TorchHijack: k-diffusion's torch.randn_like returns the next per-image noise."""

    def __init__(self, rng: ReferenceRNG):
        self.rng = rng

    def __getattr__(self, item):
        if item == "randn_like":
            return lambda x: self.rng.next()
        return getattr(torch, item)


class CFG:
    """A1111 CFGDenoiser reduced to one positive prompt per image: cond and uncond in one batch.

    `cond` is a tensor, or a prompt schedule `[(end_at_call, tensor), ...]` looked up by the model-call count.
    """

    def __init__(self, denoiser, cond, uncond: torch.Tensor, scale: float):
        self.denoiser, self.uncond, self.scale = denoiser, uncond, scale
        self.schedule = cond if isinstance(cond, list) else [(10 ** 9, cond)]
        self.calls = 0

    def __call__(self, x, sigma, **_):
        n = x.shape[0]
        cond = next(c for end, c in self.schedule if self.calls <= end)
        sigma = sigma.reshape(-1).expand(n) if sigma.numel() == 1 else sigma
        out = self.denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]), cond=torch.cat([cond, self.uncond]))
        self.calls += 1
        return out[n:] + (out[:n] - out[n:]) * self.scale


def decode(vae, latents: torch.Tensor) -> list[np.ndarray]:
    """A1111's decode + conversion: clamp((x + 1) / 2), times 255, astype(uint8) (truncation)."""
    out = []
    for i in range(latents.shape[0]):
        x = vae.decode(latents[i:i + 1] / vae.config.scaling_factor).sample.float()
        x = torch.clamp((x[0] + 1.0) / 2.0, min=0.0, max=1.0)
        out.append((255.0 * np.moveaxis(x.numpy(), 0, 2)).astype(np.uint8))
    return out


# (family, sampler, schedule) -> max uint8 difference, printed at the end of the engine tests (pytest -s)
MEASURED: dict[tuple[str, str, str], int] = {}


def slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """A1111 processing.slerp (variation seeds)."""
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(1) * high
