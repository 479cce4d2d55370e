"""Seamless tiling: circular padding on every convolution of the UNet and VAE for one request."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def tiled(pipe, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    convs = [m for part in (pipe.unet, pipe.vae) for m in part.modules() if isinstance(m, torch.nn.Conv2d)]
    saved = [m.padding_mode for m in convs]
    for m in convs:
        m.padding_mode = "circular"
    try:
        yield
    finally:
        for m, mode in zip(convs, saved):
            m.padding_mode = mode
