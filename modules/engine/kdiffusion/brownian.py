"""The Brownian-tree noise of the SDE samplers, one tree per image seeded from the batch's seeds (A1111's
`create_noise_sampler`), so DPM++ SDE pictures repeat exactly and do not depend on batch position.

The trees come from torchsde; their normal draws follow the request's random source, drawn in float32 and moved to
the latents' device (A1111 replaces torchsde's `_randn` with its `randn_local`; on a CPU machine with the CPU
source that is exactly torchsde's own draw).
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch

from modules.engine.noise import RandomSource

_SOURCE: contextvars.ContextVar[RandomSource | None] = contextvars.ContextVar("easel_brownian_source", default=None)
_installed = False


def _install() -> None:
    """Route torchsde's seeded draws through the active RandomSource (once; CPU source = torchsde's own draw)."""
    global _installed
    if _installed:
        return
    from torchsde._brownian import brownian_interval

    original = brownian_interval._randn

    def randn(size, dtype, device, seed):
        source = _SOURCE.get()
        if source is None:
            return original(size, dtype, device, seed)
        return source.randn_seeded(int(seed), tuple(size)).to(device=device, dtype=dtype)

    brownian_interval._randn = randn
    _installed = True


@contextlib.contextmanager
def random_source(source: RandomSource) -> Iterator[None]:
    _install()
    token = _SOURCE.set(source)
    try:
        yield
    finally:
        _SOURCE.reset(token)


class BrownianTreeNoiseSampler:
    """noise(sigma, sigma_next): the normalised Brownian increment between two sigmas, per image."""

    def __init__(self, x: torch.Tensor, sigma_min: torch.Tensor, sigma_max: torch.Tensor, seeds: list[int]):
        import torchsde

        t0, t1 = torch.as_tensor(sigma_min), torch.as_tensor(sigma_max)
        self.sign = 1 if t0 < t1 else -1
        t0, t1 = (t0, t1) if t0 < t1 else (t1, t0)
        w0 = torch.zeros_like(x)[0]
        self.trees = [torchsde.BrownianTree(t0, w0, t1, entropy=int(s)) for s in seeds]

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        t0, t1 = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        sign = 1 if t0 < t1 else -1
        lo, hi = (t0, t1) if t0 < t1 else (t1, t0)
        w = torch.stack([tree(lo, hi) for tree in self.trees]) * (self.sign * sign)
        return w / (t1 - t0).abs().sqrt()
