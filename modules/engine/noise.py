"""Initial noise from seeds, with A1111 semantics: one CPU generator per image, variation seeds by slerp."""
from __future__ import annotations

import torch


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


class ImageRNG:
    """Per-image random sources. Image k of a batch draws only from its own generator, so an image does not
    depend on its position in the batch: seed s gives the same picture alone or as the third of four.
    Ancestral samplers draw their further noise from `generators` (passed to the scheduler's step)."""

    def __init__(self, shape: tuple[int, ...], seeds: list[int], subseeds: list[int] | None = None,
                 subseed_strength: float = 0.0, seed_resize_from_h: int = -1, seed_resize_from_w: int = -1,
                 latent_factor: int = 8):
        self.shape = shape  # (C, H, W) of one latent
        self.seeds = seeds
        self.subseeds = subseeds or [0] * len(seeds)
        self.subseed_strength = subseed_strength
        self.seed_resize_from_h = seed_resize_from_h
        self.seed_resize_from_w = seed_resize_from_w
        self.latent_factor = latent_factor
        self.generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]

    def first(self) -> torch.Tensor:
        """The initial noise, shape (B, C, H, W), float32 on the CPU."""
        c, h, w = self.shape
        noise_shape = self.shape
        if self.seed_resize_from_h > 0 and self.seed_resize_from_w > 0:
            noise_shape = (c, self.seed_resize_from_h // self.latent_factor, self.seed_resize_from_w // self.latent_factor)
        out = []
        for i, gen in enumerate(self.generators):
            sub = None
            if self.subseed_strength != 0:
                sub_gen = torch.Generator("cpu").manual_seed(int(self.subseeds[i]))
                sub = torch.randn(self.shape, generator=sub_gen)
            noise = torch.randn(noise_shape, generator=gen)
            if sub is not None:
                noise = slerp(self.subseed_strength, noise, sub) if noise.shape == sub.shape else noise
            if noise_shape != self.shape:
                full = torch.randn(self.shape, generator=torch.Generator("cpu").manual_seed(int(self.seeds[i])))
                noise = _paste_centered(noise, full)
            out.append(noise)
        return torch.stack(out)


def _paste_centered(noise: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """A1111's seed resize: the centre of the old-size noise replaces the centre of the new-size noise."""
    _, h, w = full.shape
    src_h, src_w = noise.shape[1], noise.shape[2]
    dy, dx = (h - src_h) // 2, (w - src_w) // 2
    y0, x0 = max(0, dy), max(0, dx)
    sy, sx = max(0, -dy), max(0, -dx)
    hh, ww = min(h - y0, src_h - sy), min(w - x0, src_w - sx)
    full[:, y0:y0 + hh, x0:x0 + ww] = noise[:, sy:sy + hh, sx:sx + ww]
    return full
