"""Noise from seeds with A1111 1.10 semantics (modules/rng.py): one generator per image, variation seeds by
slerp, seed resize, eta noise seed delta and the CPU / GPU / NV random sources.

`first()` is the initial noise; `next()` is what k-diffusion's `torch.randn_like` returns inside A1111 (the first
call gives the initial noise, later calls the per-image generators' next draws). With ENSD set, the generators are
re-seeded with seed + ENSD right after the initial noise, for every sampler, as in A1111.
"""
from __future__ import annotations

import numpy as np
import torch

from modules.engine import rng_philox

RANDN_SOURCES = ("GPU", "CPU", "NV")


def slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two noise tensors (A1111's variation-seed blend)."""
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(1) * high


class RandomSource:
    """Generators and draws for one `randn_source`: CPU (torch CPU generator, the default here), GPU (the device's
    generator; on a CPU-only machine the same as CPU) or NV (Philox, as CUDA draws, on any machine)."""

    def __init__(self, name: str = "CPU", device: torch.device | str = "cpu"):
        if name not in RANDN_SOURCES:
            raise ValueError(f"randn_source must be one of {RANDN_SOURCES}, got {name!r}")
        self.name = name
        self.device = torch.device(device)
        self.generator_device = self.device if name == "GPU" and self.device.type != "mps" else torch.device("cpu")

    def generator(self, seed: int):
        if self.name == "NV":
            return rng_philox.Generator(int(seed))
        return torch.Generator(self.generator_device).manual_seed(int(seed))

    def randn(self, shape: tuple[int, ...], generator) -> torch.Tensor:
        """Draw from `generator`, returned as float32 on the CPU (callers move it)."""
        if self.name == "NV":
            return torch.from_numpy(np.ascontiguousarray(generator.randn(tuple(shape))))
        return torch.randn(tuple(shape), device=self.generator_device, generator=generator).cpu()

    def randn_seeded(self, seed: int, shape: tuple[int, ...]) -> torch.Tensor:
        return self.randn(shape, self.generator(seed))


class ImageRNG:
    """Per-image random sources. Image k of a batch draws only from its own generator, so an image does not
    depend on its position in the batch: seed s gives the same picture alone or as the third of four."""

    def __init__(self, shape: tuple[int, ...], seeds: list[int], subseeds: list[int] | None = None,
                 subseed_strength: float = 0.0, seed_resize_from_h: int = -1, seed_resize_from_w: int = -1,
                 latent_factor: int = 8, eta_noise_seed_delta: int = 0, source: RandomSource | None = None):
        self.shape = tuple(int(v) for v in shape)  # (C, H, W) of one latent
        self.seeds = [int(s) for s in seeds]
        self.subseeds = subseeds
        self.subseed_strength = subseed_strength
        self.seed_resize_from_h = seed_resize_from_h
        self.seed_resize_from_w = seed_resize_from_w
        self.latent_factor = latent_factor
        self.eta_noise_seed_delta = int(eta_noise_seed_delta or 0)
        self.source = source or RandomSource()
        self.generators = [self.source.generator(s) for s in self.seeds]
        self.is_first = True

    def first(self) -> torch.Tensor:
        """The initial noise, shape (B, C, H, W), float32 on the CPU."""
        c, _, _ = self.shape
        noise_shape = self.shape
        if self.seed_resize_from_h > 0 and self.seed_resize_from_w > 0:
            noise_shape = (c, int(self.seed_resize_from_h) // self.latent_factor,
                           int(self.seed_resize_from_w) // self.latent_factor)
        src = self.source
        out = []
        for i, (seed, generator) in enumerate(zip(self.seeds, self.generators)):
            sub = None
            if self.subseeds is not None and self.subseed_strength != 0:
                subseed = 0 if i >= len(self.subseeds) else int(self.subseeds[i])
                sub = src.randn_seeded(subseed, noise_shape)
            if noise_shape != self.shape:
                noise = src.randn_seeded(seed, noise_shape)
            else:
                noise = src.randn(self.shape, generator)
            if sub is not None:
                noise = slerp(self.subseed_strength, noise, sub)
            if noise_shape != self.shape:
                noise = _paste_centered(noise, src.randn(self.shape, generator))
            out.append(noise)
        if self.eta_noise_seed_delta:
            self.generators = [src.generator(s + self.eta_noise_seed_delta) for s in self.seeds]
        self.is_first = False
        return torch.stack(out)

    def next(self) -> torch.Tensor:
        """A1111's `rng.next()`: the initial noise on the first call, then one draw per image generator."""
        if self.is_first:
            return self.first()
        return torch.stack([self.source.randn(self.shape, g) for g in self.generators])


def _paste_centered(noise: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """A1111's seed resize: the centre of the old-size noise replaces the centre of the new-size noise (when the
    old size is larger, A1111 pastes `old + 2 * offset` rows/columns, one short for odd differences; kept)."""
    dx = (full.shape[2] - noise.shape[2]) // 2
    dy = (full.shape[1] - noise.shape[1]) // 2
    w = noise.shape[2] if dx >= 0 else noise.shape[2] + 2 * dx
    h = noise.shape[1] if dy >= 0 else noise.shape[1] + 2 * dy
    tx, ty = max(dx, 0), max(dy, 0)
    sx, sy = max(-dx, 0), max(-dy, 0)
    full[:, ty:ty + h, tx:tx + w] = noise[:, sy:sy + h, sx:sx + w]
    return full
