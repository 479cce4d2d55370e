"""What a sampler function gets besides x and its sigmas: the model, the random sources and the step callback."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, sigma or timestep) -> denoised (or eps)
NoiseSampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class SamplerContext:
    """`randn()` is A1111's `p.rng.next()`: the next per-image noise (k-diffusion's `torch.randn_like`, hijacked).

    `noise_sampler` is the Brownian-tree sampler of the SDE samplers (None elsewhere); `callback(i, x, denoised)`
    runs once per sampler step, as k-diffusion's callback does.
    """

    model: Model
    randn: Callable[[], torch.Tensor]
    callback: Callable[[int, torch.Tensor, torch.Tensor | None], None] | None = None
    noise_sampler: NoiseSampler | None = None

    def noise(self) -> NoiseSampler:
        if self.noise_sampler is not None:
            return self.noise_sampler
        return lambda _sigma, _sigma_next: self.randn()

    def step(self, i: int, x: torch.Tensor, denoised: torch.Tensor | None) -> None:
        if self.callback is not None:
            self.callback(i, x, denoised)
