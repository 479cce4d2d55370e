"""NVIDIA's Philox4x32-10 + Box-Muller, in numpy: the normal numbers torch.randn gives on CUDA for a seed.

A1111's "NV" random source (`randn_source = NV`) uses this so that CPU-only machines reproduce pictures made with
GPU noise. Each `randn` call consumes one Philox offset; element k of the call uses counter (offset, 0, k, 0).
"""
from __future__ import annotations

import numpy as np

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint32(0x9E3779B9), np.uint32(0xBB67AE85)
_TWO_POW32_INV = np.float32(2.3283064e-10)
_TWO_POW32_INV_2PI = np.float32(2.3283064e-10 * 6.2831855)


def _mulhilo(a: np.ndarray, m: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    product = a.astype(np.uint64) * m
    return (product >> np.uint64(32)).astype(np.uint32), (product & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def _philox(counter: np.ndarray, key: np.ndarray, rounds: int = 10) -> np.ndarray:
    c = counter.copy()
    k0, k1 = key[0].copy(), key[1].copy()
    with np.errstate(over="ignore"):
        for r in range(rounds):
            hi0, lo0 = _mulhilo(c[0], _M0)
            hi1, lo1 = _mulhilo(c[2], _M1)
            c = np.stack([hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0])
            if r < rounds - 1:
                k0 = k0 + _W0
                k1 = k1 + _W1
    return c


def _box_muller(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The first Box-Muller output, computed in float64 from float32 constants (as A1111's numpy code promotes)."""
    inv, inv_2pi = np.float64(_TWO_POW32_INV), np.float64(_TWO_POW32_INV_2PI)
    u = x.astype(np.float64) * inv + np.float64(_TWO_POW32_INV / np.float32(2))
    v = y.astype(np.float64) * inv_2pi + np.float64(_TWO_POW32_INV_2PI / np.float32(2))
    return (np.sqrt(-2.0 * np.log(u)) * np.sin(v)).astype(np.float32)


class Generator:
    """Same numbers as `torch.randn(shape, generator=torch.Generator('cuda').manual_seed(seed), device='cuda')`."""

    def __init__(self, seed: int):
        self.seed = int(seed)
        self.offset = 0

    def randn(self, shape: tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape))
        counter = np.zeros((4, n), dtype=np.uint32)
        counter[0] = self.offset
        counter[2] = np.arange(n, dtype=np.uint32)
        self.offset += 1
        seed = np.uint64(self.seed & 0xFFFFFFFFFFFFFFFF)
        key = np.stack([np.full(n, seed & np.uint64(0xFFFFFFFF), dtype=np.uint64).astype(np.uint32),
                        np.full(n, seed >> np.uint64(32), dtype=np.uint64).astype(np.uint32)])
        out = _philox(counter, key)
        return _box_muller(out[0], out[1]).reshape(shape)
