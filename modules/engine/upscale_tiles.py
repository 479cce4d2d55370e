"""One pass of a spandrel super-resolution model over an image, in overlapping tiles (A1111's `ESRGAN_tile` /
`ESRGAN_tile_overlap`, defaults 192 / 8; a tile size of 0 runs the whole image at once).

Tiles overlap by `overlap` input pixels; in the overlap, the outputs are blended with linear ramps (so seams do not
show and tiled output stays within a small tolerance of the untiled one). Channels go in as BGR, as A1111 1.10
feeds its ESRGAN/SwinIR/DAT/HAT models (upscaler_utils.upscale_without_tiling), and come back as RGB. Tiles are
padded (edge replication) to the model's size requirements and cropped back. `should_stop` is checked between tiles;
when it answers True the remaining tiles are filled with a bicubic resize, so the caller still gets an image.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of `tile` covering `length`, neighbours overlapping by at least `overlap`."""
    if tile <= 0 or length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def _pad_to_requirements(x: torch.Tensor, req: Any) -> tuple[torch.Tensor, int, int]:
    h, w = x.shape[-2:]
    multiple = max(1, int(getattr(req, "multiple_of", 1) or 1))
    minimum = max(1, int(getattr(req, "minimum", 1) or 1))
    th = max(minimum, math.ceil(h / multiple) * multiple)
    tw = max(minimum, math.ceil(w / multiple) * multiple)
    if getattr(req, "square", False):
        th = tw = max(th, tw)
    if (th, tw) != (h, w):
        x = F.pad(x, (0, tw - w, 0, th - h), mode="replicate")
    return x, h, w


def _ramp(length: int, fade_start: bool, fade_end: bool, width: int) -> torch.Tensor:
    """1-D blend weights: rising over `width` at a shared start edge, falling at a shared end edge."""
    weights = torch.ones(length)
    if width > 0:
        ramp = (torch.arange(width, dtype=torch.float32) + 1) / (width + 1)
        if fade_start:
            weights[:width] = torch.minimum(weights[:width], ramp)
        if fade_end:
            weights[length - width:] = torch.minimum(weights[length - width:], ramp.flip(0))
    return weights


@torch.no_grad()
def run_model(descriptor: Any, x: torch.Tensor) -> torch.Tensor:
    """The model on a (1, 3, h, w) tensor in [0, 1], padded for it and cropped back; output float32 on the CPU."""
    param = next(descriptor.model.parameters())
    padded, h, w = _pad_to_requirements(x, descriptor.size_requirements)
    out = descriptor(padded.to(param.device, param.dtype)).float().cpu()
    scale = int(descriptor.scale)
    return out[..., :h * scale, :w * scale]


@torch.no_grad()
def upscale_tiled(
    descriptor: Any,
    image: Image.Image,
    *,
    tile: int,
    overlap: int,
    should_stop: Callable[[], bool] | None = None,
) -> Image.Image:
    """One pass of `descriptor` (a spandrel ImageModelDescriptor) over `image`; the result is `scale` times larger."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(np.ascontiguousarray(rgb[:, :, ::-1].transpose(2, 0, 1))).unsqueeze(0)  # BGR, like A1111
    scale = int(descriptor.scale)
    height, width = x.shape[-2:]
    if tile <= 0 or (height <= tile and width <= tile):
        out = run_model(descriptor, x)
    else:
        overlap = max(0, min(overlap, tile - 1))
        out = torch.zeros(1, 3, height * scale, width * scale)
        total = torch.zeros(1, 1, height * scale, width * scale)
        ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
        for iy, y0 in enumerate(ys):
            for ix, x0 in enumerate(xs):
                y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
                if should_stop is not None and should_stop():
                    piece = F.interpolate(x[..., y0:y1, x0:x1], scale_factor=scale, mode="bicubic")
                else:
                    piece = run_model(descriptor, x[..., y0:y1, x0:x1])
                # Ramps span the actual overlap with the neighbour (the last tile may overlap more than `overlap`).
                top = (ys[iy - 1] + tile - y0) if iy > 0 else 0
                left = (xs[ix - 1] + tile - x0) if ix > 0 else 0
                bottom = (y1 - ys[iy + 1]) if iy + 1 < len(ys) else 0
                right = (x1 - xs[ix + 1]) if ix + 1 < len(xs) else 0
                wy = torch.minimum(_ramp(piece.shape[-2], top > 0, False, top * scale),
                                   _ramp(piece.shape[-2], False, bottom > 0, bottom * scale))
                wx = torch.minimum(_ramp(piece.shape[-1], left > 0, False, left * scale),
                                   _ramp(piece.shape[-1], False, right > 0, right * scale))
                weight = (wy[:, None] * wx[None, :])[None, None]
                out[..., y0 * scale:y1 * scale, x0 * scale:x1 * scale] += piece * weight
                total[..., y0 * scale:y1 * scale, x0 * scale:x1 * scale] += weight
        out = out / total.clamp_min(1e-8)
    arr = out[0].clamp(0, 1).permute(1, 2, 0).numpy()[:, :, ::-1]  # back to RGB
    return Image.fromarray(np.ascontiguousarray((arr * 255.0).astype(np.uint8)), "RGB")  # truncated, as A1111
