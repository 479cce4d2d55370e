"""Soft inpainting, A1111 1.10's built-in extension (extensions-builtin/soft-inpainting): the original content is
blended in according to the mask's opacity instead of a hard mask.

While sampling, each step's latents are mixed with the original ones by `nmask ** (sigma ** schedule_bias *
preservation_strength)` (the mask is not rounded), the mix keeping the larger vector magnitude
(`transition_contrast_boost`). After sampling, where the result hardly differs from the original (latent distance
below `difference_threshold`, biased by the mask with `mask_influence`, sharpened by `difference_contrast`), the
original pixels are composited back. The request turns it on through its always-on script (scripts/
soft_inpainting.py), which leaves the settings on `p.soft_inpainting`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps

from modules import images as image_utils

INFOTEXT = {"mask_blend_power": "Soft inpainting schedule bias",
            "mask_blend_scale": "Soft inpainting preservation strength",
            "inpaint_detail_preservation": "Soft inpainting transition contrast boost",
            "composite_mask_influence": "Soft inpainting mask influence",
            "composite_difference_threshold": "Soft inpainting difference threshold",
            "composite_difference_contrast": "Soft inpainting difference contrast"}


@dataclass(frozen=True)
class SoftInpainting:
    mask_blend_power: float = 1.0
    mask_blend_scale: float = 0.5
    inpaint_detail_preservation: float = 4.0
    composite_mask_influence: float = 0.0
    composite_difference_threshold: float = 0.5
    composite_difference_contrast: float = 2.0

    @classmethod
    def of(cls, p: Any) -> SoftInpainting | None:
        """The settings a request's always-on script left (`p.soft_inpainting`, plain values), or None."""
        values = getattr(p, "soft_inpainting", None)
        return cls(**{k: float(v) for k, v in values.items()}) if values else None


def _float64(x: torch.Tensor) -> torch.dtype:
    return torch.float32 if x.device.type == "mps" else torch.float64


def step_nmask(settings: SoftInpainting, nmask: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The share of the denoised latents at this step (A1111 `get_modified_nmask`)."""
    return torch.pow(nmask, (sigma ** settings.mask_blend_power) * settings.mask_blend_scale)


def latent_blend(settings: SoftInpainting, original: torch.Tensor, current: torch.Tensor, t: torch.Tensor
                 ) -> torch.Tensor:
    """Interpolate per pixel (`t` = the share of `current`), the vectors' magnitudes interpolated on their own
    (raised to `inpaint_detail_preservation`, which favours the larger one), as A1111's `latent_blend`."""
    t3 = t[:, :1] if t.dim() == 4 else t[:1][None]
    mixed = original * (1 - t) + current * t
    wide = _float64(mixed)
    power = settings.inpaint_detail_preservation
    magnitude = torch.norm(mixed, p=2, dim=1, keepdim=True).to(wide) + 0.00001
    wanted = (torch.norm(original, p=2, dim=1, keepdim=True).to(wide).pow(power) * (1 - t3)
              + torch.norm(current, p=2, dim=1, keepdim=True).to(wide).pow(power) * t3).pow(1 / power)
    return mixed * (wanted / magnitude).to(mixed.dtype)


def blend_step(settings: SoftInpainting):
    """The per-step blend for `MaskBlend.blend`: (current, original, nmask, sigma) -> latents."""
    def blend(current: torch.Tensor, original: torch.Tensor, nmask: torch.Tensor, sigma: torch.Tensor
              ) -> torch.Tensor:
        s = sigma.reshape(-1)[0]
        return latent_blend(settings, original, current, step_nmask(settings, nmask, s))

    return blend


# -- the pixel composite --------------------------------------------------------------------------------------------
def gaussian_kernel(stddev_radius: float = 1.5, max_radius: int = 2) -> np.ndarray:
    """A Gaussian of peak 1 tapered to 0 one pixel beyond `max_radius` (A1111 `get_gaussian_kernel`)."""
    zero = math.exp(-((max_radius + 1.0) ** 2) / stddev_radius ** 2)
    offsets = np.arange(-max_radius, max_radius + 1, dtype=np.float64)
    squared = offsets[:, None] ** 2 + offsets[None, :] ** 2
    return np.maximum(0.0, (np.exp(-squared / stddev_radius ** 2) - zero) / (1 - zero))


def weighted_histogram_filter(img: np.ndarray, kernel: np.ndarray, percentile_min: float, percentile_max: float,
                              min_width: float = 1.0) -> np.ndarray:
    """A1111's weighted-percentile filter: per pixel, the neighbours (weighted by `kernel`, the window cut at the
    edges) sorted by value form a stack; the weighted mean of the stack between `percentile_min` and
    `percentile_max` of its height (at least `min_width` high) is the output."""
    radius = kernel.shape[0] // 2
    h, w = img.shape
    padded = np.pad(img.astype(np.float64), radius)
    inside = np.pad(np.ones((h, w)), radius)
    values, weights = [], []
    for dy in range(kernel.shape[0]):
        for dx in range(kernel.shape[1]):
            values.append(padded[dy:dy + h, dx:dx + w])
            weights.append(inside[dy:dy + h, dx:dx + w] * kernel[dy, dx])
    values_a, weights_a = np.stack(values, -1), np.stack(weights, -1)
    order = np.argsort(values_a, axis=-1, kind="stable")
    values_a = np.take_along_axis(values_a, order, -1)
    weights_a = np.take_along_axis(weights_a, order, -1)
    top = np.cumsum(weights_a, -1)
    bottom = top - weights_a
    total = top[..., -1:]
    low, high = total * percentile_min, total * percentile_max
    narrow = (high - low) < min_width
    centre = (low + high) / 2
    low = np.where(narrow, centre - min_width / 2, low)
    high = np.where(narrow, centre + min_width / 2, high)
    over = narrow & (high > total)
    low, high = np.where(over, total - min_width, low), np.where(over, total, high)
    under = narrow & (low < 0)
    low, high = np.where(under, 0.0, low), np.where(under, min_width, high)
    overlap = np.clip(np.minimum(high, top) - np.maximum(low, bottom), 0.0, None)
    weight = overlap.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (values_a * overlap).sum(-1) / weight
    return np.where(weight != 0, out, 0.0)


def _smootherstep(x: np.ndarray) -> np.ndarray:
    return x * x * x * (x * (6 * x - 15) + 10)


def adaptive_overlays(settings: SoftInpainting, nmask: torch.Tensor, original: torch.Tensor, processed: torch.Tensor,
                      originals: list[Image.Image], width: int, height: int,
                      paste_to: tuple[int, int, int, int] | None) -> list[Image.Image]:
    """The overlays of A1111 `apply_adaptive_masks`: each original with alpha = 255 - (how much it changed)."""
    latent_mask = nmask[:, 0].float()
    scalar = 1 - torch.clamp(latent_mask, 0, 1) ** (settings.mask_blend_scale / 2)
    scalar = 0.5 * (1 - settings.composite_mask_influence) + scalar * settings.composite_mask_influence
    scalar = (scalar / (1.00001 - scalar)).cpu().numpy()
    distances = torch.norm(processed.float() - original.float(), p=2, dim=1).cpu().numpy()
    kernel = gaussian_kernel(1.5, 2)
    overlays = []
    for i, (distance, base) in enumerate(zip(distances, originals)):
        smooth = weighted_histogram_filter(distance, kernel, 0.9, 1.0)
        smooth = weighted_histogram_filter(smooth, kernel, 0.25, 0.75)
        half = settings.composite_difference_threshold * scalar[min(i, len(scalar) - 1)]
        with np.errstate(divide="ignore", invalid="ignore"):
            kept = 1 / (1 + (smooth / half) ** settings.composite_difference_contrast)
        changed = (255.0 * (1 - _smootherstep(np.nan_to_num(kept)))).astype(np.uint8)
        mask = image_utils.resize_image(2, Image.fromarray(changed), width, height).convert("L")
        mask = mask.filter(ImageFilter.GaussianBlur(radius=4))
        if paste_to is not None:
            x, y, w, h = paste_to
            full = Image.new("RGBA", base.size)
            full.paste(image_utils.resize_image(1, mask, w, h), (x, y))
            mask = full.convert("L")
        layer = Image.new("RGBa", base.size)
        layer.paste(base.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask))
        overlays.append(layer.convert("RGBA"))
    return overlays
