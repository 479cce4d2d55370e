"""The UNet seen as a denoiser of k-diffusion's CompVis kind: sigma in, denoised latents out.

A1111 wraps its LDM model in `CompVisDenoiser` (eps prediction) or `CompVisVDenoiser` (v prediction). The discrete
schedule has one sigma per training timestep, sigma_t = sqrt((1 - a_t) / a_t) from alphas_cumprod, and sigmas
between them map to fractional timesteps by interpolating log-sigma; the UNet is then called with that fractional
timestep and the input scaled by c_in = 1 / sqrt(sigma^2 + 1).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

UNetFn = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]  # (scaled x, timesteps, cond) -> model output


def alphas_cumprod_from_config(config: dict[str, Any]) -> torch.Tensor:
    """alphas_cumprod as LDM computes it (float64 betas, cumulative product, stored as float32).

    diffusers computes its betas in float32, which drifts from the checkpoint's training schedule by ~1e-6.
    """
    n = int(config.get("num_train_timesteps", 1000))
    trained = config.get("trained_betas")
    schedule = config.get("beta_schedule", "scaled_linear")
    start, end = float(config.get("beta_start", 0.00085)), float(config.get("beta_end", 0.012))
    if trained is not None:
        betas = np.asarray(trained, dtype=np.float64)
    elif schedule == "scaled_linear":
        betas = np.linspace(start ** 0.5, end ** 0.5, n, dtype=np.float64) ** 2
    elif schedule == "linear":
        betas = np.linspace(start, end, n, dtype=np.float64)
    else:
        raise ValueError(f"unsupported beta_schedule {schedule!r}")
    return torch.tensor(np.cumprod(1.0 - betas, axis=0), dtype=torch.float32)


class DiscreteSchedule:
    """Sigmas of the training timesteps (ascending) and the sigma <-> timestep maps."""

    def __init__(self, sigmas: torch.Tensor, quantize: bool = False):
        self.sigmas = sigmas
        self.log_sigmas = sigmas.log()
        self.quantize = quantize

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def get_sigmas(self, n: int | None = None) -> torch.Tensor:
        """n sigmas at timesteps linspace(T-1, 0, n), then 0 (A1111's "Automatic" without a default)."""
        if n is None:
            return _append_zero(self.sigmas.flip(0))
        t = torch.linspace(len(self.sigmas) - 1, 0, n, device=self.sigmas.device)
        return _append_zero(self.t_to_sigma(t))

    def sigma_to_t(self, sigma: torch.Tensor, quantize: bool | None = None) -> torch.Tensor:
        quantize = self.quantize if quantize is None else quantize
        log_sigma = sigma.log()
        dists = log_sigma - self.log_sigmas[:, None]
        if quantize:
            return dists.abs().argmin(dim=0).view(sigma.shape)
        low = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=self.log_sigmas.shape[0] - 2)
        high = low + 1
        lo, hi = self.log_sigmas[low], self.log_sigmas[high]
        w = ((lo - log_sigma) / (lo - hi)).clamp(0, 1)
        return ((1 - w) * low + w * high).view(sigma.shape)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = t.float()
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp()


def _append_zero(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_zeros([1])])


class CompVisDenoiser(DiscreteSchedule):
    """eps or v prediction UNet -> denoised latents, with A1111's scalings."""

    def __init__(self, unet: UNetFn, alphas_cumprod: torch.Tensor, prediction_type: str = "epsilon",
                 quantize: bool = False):
        super().__init__(((1 - alphas_cumprod) / alphas_cumprod) ** 0.5, quantize)
        self.unet = unet
        self.alphas_cumprod = alphas_cumprod
        self.v_prediction = prediction_type == "v_prediction"

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
        s = sigma.reshape(-1, *([1] * (x.ndim - 1)))
        c_in = 1 / (s ** 2 + 1) ** 0.5
        out = self.unet(x * c_in, self.sigma_to_t(sigma), cond)
        if self.v_prediction:
            return x / (s ** 2 + 1) + out * (-s / (s ** 2 + 1) ** 0.5)
        return x + out * -s


class LCMDenoiser(CompVisDenoiser):
    """A1111's LCM denoiser: 50 "original" timesteps (every 20th) and LCM's boundary-condition scalings."""

    ORIGINAL_STEPS = 50

    def __init__(self, unet: UNetFn, alphas_cumprod: torch.Tensor, prediction_type: str = "epsilon"):
        total = len(alphas_cumprod)
        self.skip_steps = total // self.ORIGINAL_STEPS
        valid = torch.stack([alphas_cumprod[total - 1 - k * self.skip_steps]
                             for k in reversed(range(self.ORIGINAL_STEPS))])
        super().__init__(unet, valid, prediction_type)
        self.full_alphas_cumprod = alphas_cumprod

    def get_sigmas(self, n: int | None = None) -> torch.Tensor:
        if n is None:
            return _append_zero(self.sigmas.flip(0))
        start, end = self.sigma_to_t(self.sigma_max), self.sigma_to_t(self.sigma_min)
        return _append_zero(self.t_to_sigma(torch.linspace(start, end, n, device=self.sigmas.device)))

    def sigma_to_t(self, sigma: torch.Tensor, quantize: bool | None = None) -> torch.Tensor:
        dists = sigma.log() - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape) * self.skip_steps + (self.skip_steps - 1)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.clamp(((t - (self.skip_steps - 1)) / self.skip_steps).float(), min=0, max=len(self.sigmas) - 1)
        return super().t_to_sigma(t)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
        s = sigma.reshape(-1, *([1] * (x.ndim - 1)))
        c_in = 1 / (s ** 2 + 1) ** 0.5
        eps = self.unet(x * c_in, self.sigma_to_t(sigma), cond)
        denoised = x + eps * -s
        sigma_data = 0.5
        scaled_t = self.sigma_to_t(sigma).reshape(s.shape) * 10.0
        c_skip = sigma_data ** 2 / (scaled_t ** 2 + sigma_data ** 2)
        c_out = scaled_t / (scaled_t ** 2 + sigma_data ** 2) ** 0.5
        return c_out * denoised + c_skip * x
