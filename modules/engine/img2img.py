"""img2img and inpainting: init latents, masks and the final overlay (the truncated schedule is in sampling.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps

from modules import images as image_utils


@dataclass
class PreparedInit:
    init_latents: torch.Tensor  # (B, C, h, w)
    latent_keep: torch.Tensor | None  # (B, 1, h, w): 1 keeps the original (outside the mask)
    originals: list[Image.Image]  # the resized init images, RGB
    overlay_mask: Image.Image | None  # blurred mask in pixel space, L, 255 = repainted


def _prepare_mask(p, size: tuple[int, int]) -> Image.Image | None:
    if p.mask is None:
        return None
    mask = p.mask.convert("L")
    if p.inpainting_mask_invert:
        mask = ImageOps.invert(mask)
    mask = image_utils.resize_image(p.resize_mode, mask, size[0], size[1])
    if p.mask_blur_x > 0 or p.mask_blur_y > 0:
        radius = max(p.mask_blur_x, p.mask_blur_y) / 2
        mask = mask.filter(ImageFilter.GaussianBlur(radius))
    return mask


def _fill_masked(image: Image.Image, mask: Image.Image) -> Image.Image:
    """inpainting_fill 0 ("fill"): replace the masked area by a heavy blur of the picture around it."""
    blurred = image
    for radius in (64, 32, 16, 8, 4, 2):
        blurred = Image.composite(blurred, image.filter(ImageFilter.GaussianBlur(radius)), mask)
    return Image.composite(blurred, image, mask)


@torch.no_grad()
def prepare(p, pipe, precision, batch_size: int) -> PreparedInit:
    size = (p.width, p.height)
    mask = _prepare_mask(p, size)
    originals = []
    for i in range(batch_size):
        src = p.init_images[i % len(p.init_images)].convert("RGB")
        originals.append(image_utils.resize_image(p.resize_mode, src, p.width, p.height))
    to_encode = originals
    if mask is not None and p.inpainting_fill == 0:
        to_encode = [_fill_masked(img, mask) for img in originals]
    arr = np.stack([np.asarray(img, dtype=np.float32) / 127.5 - 1.0 for img in to_encode])
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).to(precision.device, pipe.vae.dtype)
    vae = pipe.vae
    latents = vae.encode(x).latent_dist.mode()
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    latents = ((latents - shift) * vae.config.scaling_factor).float()
    keep = None
    if mask is not None:
        h, w = latents.shape[2:]
        m = mask.resize((w, h), Image.Resampling.BILINEAR)
        m = torch.from_numpy(np.asarray(m, dtype=np.float32) / 255.0)
        if p.mask_round:
            m = m.round()
        keep = (1.0 - m)[None, None].repeat(batch_size, 1, 1, 1).to(latents.device)
        if p.inpainting_fill == 2:
            latents = latents * keep + torch.randn_like(latents) * (1 - keep)
        elif p.inpainting_fill == 3:
            latents = latents * keep
    return PreparedInit(latents, keep, originals, mask)


def apply_overlay(decoded: list[Image.Image], prepared: PreparedInit) -> list[Image.Image]:
    """Paste the untouched original back outside the (blurred) mask, as A1111's overlay does."""
    if prepared.overlay_mask is None:
        return decoded
    return [Image.composite(img, orig, prepared.overlay_mask) for img, orig in zip(decoded, prepared.originals)]
