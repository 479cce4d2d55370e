"""A1111's "timesteps" samplers (sd_samplers_timesteps_impl.py): DDIM, DDIM CFG++, PLMS and UniPC.

They work on the model's discrete timesteps, `timesteps = clip(range(0, 1000, 1000 // steps) + 1, 0, 999)`, and the
model returns eps. A1111 runs `len(timesteps) - 1` updates (from the last timestep down to the second), so DDIM and
PLMS make one model step fewer than the step count and end at t=1, not t=0; this is kept as A1111 does it.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from modules.engine.kdiffusion.context import SamplerContext


def get_timesteps(steps: int, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.clip(torch.asarray(list(range(0, 1000, 1000 // steps)), device=device) + 1, 0, 999)


def _alphas(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor):
    alphas = alphas_cumprod[timesteps]
    alphas_prev = alphas_cumprod[torch.nn.functional.pad(timesteps[:-1], pad=(1, 0))].to(torch.float64)
    return alphas, alphas_prev, torch.sqrt(1 - alphas)


def _ddim_sigmas(eta: float, alphas: torch.Tensor, alphas_prev: torch.Tensor) -> np.ndarray:
    prev = alphas_prev.cpu().numpy()
    cur = alphas.cpu().numpy().astype(np.float64)
    return eta * np.sqrt((1 - prev) / (1 - cur) * (1 - cur / prev))


def ddim(ctx: SamplerContext, x, timesteps, alphas_cumprod, eta=0.0, last_uncond: Callable | None = None):
    """DDIM; with `last_uncond` (DDIM CFG++) the direction term uses the unconditional eps."""
    alphas, alphas_prev, sqrt_one_minus = _alphas(alphas_cumprod, timesteps)
    sigmas = _ddim_sigmas(eta, alphas, alphas_prev)
    for i in range(len(timesteps) - 1):
        index = len(timesteps) - 1 - i
        e_t = ctx.model(x, timesteps[index].float())
        direction = last_uncond() if last_uncond is not None else e_t
        a_t = alphas[index].item()
        a_prev = alphas_prev[index].item()
        sigma_t = sigmas[index].item()
        pred_x0 = (x - sqrt_one_minus[index].item() * e_t) / a_t ** 0.5
        dir_xt = (1.0 - a_prev - sigma_t ** 2) ** 0.5 * direction
        noise = sigma_t * ctx.randn()
        x = a_prev ** 0.5 * pred_x0 + dir_xt + noise
        ctx.step(i, x, pred_x0)
    return x


def plms(ctx: SamplerContext, x, timesteps, alphas_cumprod):
    alphas, alphas_prev, sqrt_one_minus = _alphas(alphas_cumprod, timesteps)
    old_eps: list[torch.Tensor] = []

    def prev_and_x0(x, e_t, index):
        a_t, a_prev = alphas[index].item(), alphas_prev[index].item()
        pred_x0 = (x - sqrt_one_minus[index].item() * e_t) / a_t ** 0.5
        return a_prev ** 0.5 * pred_x0 + (1.0 - a_prev) ** 0.5 * e_t, pred_x0

    for i in range(len(timesteps) - 1):
        index = len(timesteps) - 1 - i
        e_t = ctx.model(x, timesteps[index].float())
        if not old_eps:  # pseudo improved Euler (2nd order)
            x_prev, _ = prev_and_x0(x, e_t, index)
            e_t_next = ctx.model(x_prev, timesteps[max(index - 1, 0)].float())
            e_prime = (e_t + e_t_next) / 2
        elif len(old_eps) == 1:  # Adams-Bashforth, 2nd to 4th order
            e_prime = (3 * e_t - old_eps[-1]) / 2
        elif len(old_eps) == 2:
            e_prime = (23 * e_t - 16 * old_eps[-1] + 5 * old_eps[-2]) / 12
        else:
            e_prime = (55 * e_t - 59 * old_eps[-1] + 37 * old_eps[-2] - 9 * old_eps[-3]) / 24
        x, pred_x0 = prev_and_x0(x, e_prime, index)
        old_eps.append(e_t)
        if len(old_eps) >= 4:
            old_eps.pop(0)
        ctx.step(i, x, pred_x0)
    return x
