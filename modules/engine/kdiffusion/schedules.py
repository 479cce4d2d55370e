"""A1111 1.10's sigma schedules ("Schedule type"), each giving n sigmas followed by the final one (usually 0).

Every function takes `(n, sigma_min, sigma_max, denoiser, rho, family)`; A1111 passes the model's own sigma range
unless the `sigma_min` / `sigma_max` options override it, and `rho` only to schedules with a default rho.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from modules.engine.kdiffusion.denoiser import DiscreteSchedule

ScheduleFn = Callable[..., torch.Tensor]


def _append_zero(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_zeros([1])])


def karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0, **_) -> torch.Tensor:
    ramp = torch.linspace(0, 1, n)
    min_inv_rho, max_inv_rho = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def exponential(n: int, sigma_min: float, sigma_max: float, **_) -> torch.Tensor:
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def polyexponential(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0, **_) -> torch.Tensor:
    ramp = torch.linspace(1, 0, n) ** rho
    return _append_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def uniform(n: int, denoiser: DiscreteSchedule, **_) -> torch.Tensor:
    return denoiser.get_sigmas(n)


def sgm_uniform(n: int, sigma_min: float, sigma_max: float, denoiser: DiscreteSchedule, **_) -> torch.Tensor:
    start = denoiser.sigma_to_t(torch.tensor(sigma_max))
    end = denoiser.sigma_to_t(torch.tensor(sigma_min))
    sigmas = [float(denoiser.t_to_sigma(t)) for t in torch.linspace(start, end, n + 1)[:-1]]
    return torch.FloatTensor([*sigmas, 0.0])


def kl_optimal(n: int, sigma_min: float, sigma_max: float, **_) -> torch.Tensor:
    """Ends at sigma_min, not 0 (as in A1111)."""
    alpha_min = torch.arctan(torch.tensor(sigma_min))
    alpha_max = torch.arctan(torch.tensor(sigma_max))
    steps = torch.arange(n + 1)
    return torch.tan(steps / n * alpha_min + (1.0 - steps / n) * alpha_max)


# Align Your Steps (NVIDIA's published 10-step schedules), log-linearly resampled for other step counts.
AYS_SIGMAS = {
    "sd1": [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029],
    "sdxl": [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029],
}


def align_your_steps(n: int, family: str = "sd1", **_) -> torch.Tensor:
    table = AYS_SIGMAS["sdxl" if family == "sdxl" else "sd1"]
    if n == len(table):
        return torch.FloatTensor([*table, 0.0])
    xs = np.linspace(0, 1, len(table))
    ys = np.log(table[::-1])
    resampled = np.exp(np.interp(np.linspace(0, 1, n), xs, ys))[::-1].copy()
    return torch.FloatTensor(np.append(resampled, [0.0]))


def simple(n: int, denoiser: DiscreteSchedule, **_) -> torch.Tensor:
    stride = len(denoiser.sigmas) / n
    return torch.FloatTensor([*(float(denoiser.sigmas[-(1 + int(k * stride))]) for k in range(n)), 0.0])


def normal(n: int, sigma_min: float, sigma_max: float, denoiser: DiscreteSchedule, **_) -> torch.Tensor:
    start = denoiser.sigma_to_t(torch.tensor(sigma_max))
    end = denoiser.sigma_to_t(torch.tensor(sigma_min))
    return torch.FloatTensor([*(float(denoiser.t_to_sigma(t)) for t in torch.linspace(start, end, n)), 0.0])


def ddim(n: int, denoiser: DiscreteSchedule, **_) -> torch.Tensor:
    stride = max(len(denoiser.sigmas) // n, 1)
    picked = [float(denoiser.sigmas[k]) for k in range(1, len(denoiser.sigmas), stride)]
    return torch.FloatTensor([*picked[::-1], 0.0])


def beta(n: int, sigma_min: float, sigma_max: float, alpha: float = 0.6, beta_: float = 0.6, **_) -> torch.Tensor:
    """"Beta Sampling is All You Need" (Lee et al., 2024), with A1111's options beta_dist_alpha / beta_dist_beta."""
    from scipy import stats

    points = [stats.beta.ppf(x, alpha, beta_) for x in 1 - np.linspace(0, 1, n)]
    return torch.FloatTensor([*(sigma_min + x * (sigma_max - sigma_min) for x in points), 0.0])


FUNCTIONS: dict[str, ScheduleFn | None] = {
    "automatic": None,
    "uniform": uniform,
    "karras": karras,
    "exponential": exponential,
    "polyexponential": polyexponential,
    "sgm_uniform": sgm_uniform,
    "kl_optimal": kl_optimal,
    "align_your_steps": align_your_steps,
    "simple": simple,
    "normal": normal,
    "ddim": ddim,
    "beta": beta,
}
