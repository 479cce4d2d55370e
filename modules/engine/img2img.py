"""img2img and inpainting as A1111 1.10's `StableDiffusionProcessingImg2Img.init` prepares them; the truncated
schedule is in sampling.py, the latent blend in kdiffusion/cfg.py (`MaskBlend`).

Mask: binary from alpha (`mask_round`), inverted for "Inpaint not masked", blurred (`mask_blur_x/y`, OpenCV with
A1111's kernels). "Only masked" (`inpaint_full_res`): the masked box plus `inpaint_full_res_padding`, widened to
the processing aspect ratio, is cut out and resized to width x height; the result is resized back into that box
and the original is composited over it with the blurred mask (the output keeps the init image's size). "Whole
picture": the overlay mask is the blurred mask doubled. Masked content (`inpainting_fill`): 0 fill (the masked
area painted with blurred surroundings before encoding), 1 original, 2 latent noise (the first batch's seeds'
noise, as A1111), 3 latent nothing (zeros). The latent mask is the mask resized to the latents (bicubic, rounded
with `mask_round`). resize_mode 3 ("Just resize (latent upscale)") encodes the init image at its own size and
resizes the latents bilinearly. Inpainting checkpoints (9-channel UNet) get the masked-image conditioning
(inpaint_cond.py). Deviation: with resize_mode 3 the mask and the overlay are stretched like the latents
(A1111 resizes the mask with "resize and fill" and fails to composite an overlay of another size).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from modules import images as image_utils
from modules.engine import inpaint_cond, masking
from modules.engine.noise import ImageRNG, RandomSource

LATENT_RESIZE_MODE = 3
FILL_NAMES = {0: "fill", 2: "latent noise", 3: "latent nothing"}


@dataclass
class PreparedInit:
    init_latents: torch.Tensor  # (B, C, h, w)
    latent_keep: torch.Tensor | None  # (B, 1, h, w): 1 keeps the original (A1111 p.mask; p.nmask = 1 - keep)
    overlays: list[Image.Image] = field(default_factory=list)  # per image: the original with alpha = 255 - mask
    paste_to: tuple[int, int, int, int] | None = None  # "Only masked": (x, y, w, h) of the crop in the original
    image_conditioning: torch.Tensor | None = None  # (B, 5, h, w) for 9-channel UNets
    upscaler: str | None = None  # the upscaler_for_img2img option (enlarging the result back into the crop box)


@dataclass
class _Mask:
    processing: Image.Image | None  # at width x height (A1111 image_mask)
    overlay: Image.Image | None  # A1111 mask_for_overlay
    crop: tuple[int, int, int, int] | None


def _upscaler(options: Any) -> str | None:
    name = options.get("upscaler_for_img2img") if options is not None else None
    return name or None


def _prepare_mask(p, options: Any, upscaler: str | None) -> _Mask:
    """A1111 `init`, mask half: fills p.extra_generation_params with the mask keys."""
    if p.mask is None:
        return _Mask(None, None, None)
    extra = p.extra_generation_params
    mask = masking.binary_mask(p.mask, p.mask_round)
    if p.inpainting_mask_invert:
        mask = ImageOps.invert(mask)
        extra["Mask mode"] = "Inpaint not masked"
    mask = masking.blur_mask(mask, p.mask_blur_x, p.mask_blur_y)
    if p.mask_blur_x > 0 or p.mask_blur_y > 0:
        extra["Mask blur"] = p.mask_blur_x if p.mask_blur_x == p.mask_blur_y else None
    if p.inpaint_full_res:
        region = masking.crop_region(mask, p.inpaint_full_res_padding)
        if region is None:  # A1111 prepares once per request: later batches must not see the mask either
            p.inpaint_full_res = False
            p.mask = None
            p.comments['Unable to perform "Inpaint Only mask" because mask is blank, switch to img2img mode.'] = 1
            return _Mask(None, None, None)
        region = masking.expand_crop_region(region, p.width, p.height, mask.width, mask.height)
        extra["Inpaint area"] = "Only masked"
        extra["Masked area padding"] = p.inpaint_full_res_padding
        cropped = image_utils.resize_image(2, mask.crop(region), p.width, p.height, upscaler_name=upscaler)
        return _Mask(cropped, mask, region)
    mode = 0 if p.resize_mode == LATENT_RESIZE_MODE else p.resize_mode
    resized = image_utils.resize_image(mode, mask, p.width, p.height, upscaler_name=upscaler)
    return _Mask(resized, masking.doubled(resized), None)


def _prepare_image(p, src: Image.Image, m: _Mask, latent_mask: Image.Image | None, background: str,
                   upscaler: str | None) -> tuple[Image.Image, Image.Image | None]:
    """One init image as it is encoded, and its overlay (A1111 `init`, image loop)."""
    image = image_utils.flatten(src, background)
    if m.crop is None and p.resize_mode != LATENT_RESIZE_MODE:
        image = image_utils.resize_image(p.resize_mode, image, p.width, p.height, upscaler_name=upscaler)
    overlay = None
    if m.processing is not None:
        base = image
        if m.crop is None and p.resize_mode == LATENT_RESIZE_MODE:
            base = image_utils.resize_image(0, image, p.width, p.height, upscaler_name=upscaler)
        mask = m.overlay
        if mask.size != base.size:
            mask = image_utils.resize_image(p.resize_mode, mask, base.width, base.height)
        overlay = masking.overlay_of(base, mask)
    if m.crop is not None:
        image = image_utils.resize_image(2, image.crop(m.crop), p.width, p.height, upscaler_name=upscaler)
    if m.processing is not None and p.inpainting_fill != 1:
        image = masking.fill(image, latent_mask)
        if p.inpainting_fill == 0:
            p.extra_generation_params["Masked content"] = "fill"
    return image, overlay


@torch.no_grad()
def prepare(p, pipe, options: Any, batch_size: int, source: RandomSource | None = None) -> PreparedInit:
    """Init latents, latent mask, overlays and (9-channel UNets) the image conditioning of one batch."""
    upscaler = _upscaler(options)
    background = str(options.get("img2img_background_color")) if options is not None else "#ffffff"
    m = _prepare_mask(p, options, upscaler)
    latent_mask = getattr(p, "latent_mask", None)
    latent_mask = latent_mask.convert("L") if latent_mask is not None else m.processing
    if latent_mask is not None and m.processing is not None and latent_mask.size != m.processing.size:
        latent_mask = latent_mask.resize(m.processing.size, Image.Resampling.LANCZOS)
    encoded, overlays = [], []
    for i in range(batch_size):
        image, overlay = _prepare_image(p, p.init_images[i % len(p.init_images)], m, latent_mask, background,
                                        upscaler)
        encoded.append(image)
        if overlay is not None:
            overlays.append(overlay)
    pixels = inpaint_cond.images_to_pixels(encoded)
    latents = inpaint_cond.encode(pipe, pixels)
    factor = pipe.vae_scale_factor
    if p.resize_mode == LATENT_RESIZE_MODE:
        latents = torch.nn.functional.interpolate(latents, size=(p.height // factor, p.width // factor),
                                                  mode="bilinear")
    keep = None
    if m.processing is not None:
        h, w = latents.shape[2:]
        small = np.asarray(latent_mask.convert("RGB").resize((w, h), Image.Resampling.BICUBIC),
                           dtype=np.float32)[..., 0] / 255
        if p.mask_round:
            small = np.around(small)
        keep = torch.from_numpy(1.0 - small)[None, None].repeat(batch_size, 1, 1, 1).to(latents.device)
        if p.inpainting_fill == 2:
            first_seeds = (p.all_seeds or p.seeds)[:batch_size]
            noise = ImageRNG(tuple(latents.shape[1:]), first_seeds, source=source).next().to(latents.device)
            latents = latents * keep + noise * (1 - keep)
        elif p.inpainting_fill == 3:
            latents = latents * keep
        if p.inpainting_fill in (2, 3):
            p.extra_generation_params["Masked content"] = FILL_NAMES[p.inpainting_fill]
    conditioning = None
    if inpaint_cond.is_inpainting(pipe.unet):
        p.is_using_inpainting_conditioning = True
        conditioning = inpaint_cond.masked_image_conditioning(
            pipe, pixels, tuple(latents.shape[2:]), m.processing, p.mask_round, mask_weight(p, options))
    return PreparedInit(latents, keep, overlays, m.crop and _paste_box(m.crop), conditioning, upscaler)


def mask_weight(p, options: Any) -> float:
    """A1111 `getattr(p, "inpainting_mask_weight", opts.inpainting_mask_weight)`."""
    weight = getattr(p, "inpainting_mask_weight", None)
    if weight is None:
        weight = options.get("inpainting_mask_weight") if options is not None else 1.0
    return float(weight)


def _paste_box(region: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = region
    return x1, y1, x2 - x1, y2 - y1


def apply_overlay(image: Image.Image, prepared: PreparedInit, index: int) -> Image.Image:
    """A1111 `apply_overlay`: uncrop into the original's size ("Only masked"), then composite the original over
    it. Without an overlay the image is returned as it is (A1111 does not uncrop then either)."""
    if index >= len(prepared.overlays):
        return image
    overlay = prepared.overlays[index]
    if prepared.paste_to is not None:
        x, y, w, h = prepared.paste_to
        base = Image.new("RGBA", overlay.size)
        base.paste(image_utils.resize_image(1, image, w, h, upscaler_name=prepared.upscaler), (x, y))
        image = base
    image = image.convert("RGBA")
    image.alpha_composite(overlay)
    return image.convert("RGB")


def soft_composite(p, options: Any, prepared: PreparedInit, latents: torch.Tensor, settings) -> None:
    """Soft inpainting's composite (A1111 `post_sample`): the overlays are rebuilt from the whole originals, each
    masked by how much the result differs from the original latents."""
    from modules.engine.soft_inpainting import adaptive_overlays

    upscaler = _upscaler(options)
    background = str(options.get("img2img_background_color")) if options is not None else "#ffffff"
    originals = []
    for i in range(latents.shape[0]):
        image = image_utils.flatten(p.init_images[i % len(p.init_images)], background)
        if prepared.paste_to is None:
            mode = 0 if p.resize_mode == LATENT_RESIZE_MODE else p.resize_mode
            image = image_utils.resize_image(mode, image, p.width, p.height, upscaler_name=upscaler)
        originals.append(image.convert("RGBA"))
    prepared.overlays = adaptive_overlays(settings, 1 - prepared.latent_keep, prepared.init_latents, latents,
                                          originals, p.width, p.height, prepared.paste_to)
