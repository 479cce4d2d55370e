"""The masked-image conditioning of inpainting checkpoints (9-channel UNets: SD1/SD2 inpainting, SDXL inpainting).

Such a UNet takes `cat([latents, mask, masked_image_latents])` (4 + 1 + 4 channels). A1111 1.10 builds the extra
five channels in `inpainting_image_conditioning`: the mask (rounded when `mask_round`), and the VAE encoding of
`lerp(image, image * (1 - mask), inpainting_mask_weight)`; txt2img uses a full mask over a mid-grey picture, and
plain img2img (no mask) a full mask over its init image. Deviation: the VAE encoding takes the posterior's mode
where A1111 samples it (the posterior's spread is negligible for real VAEs; the mode keeps Easel deterministic).
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

LATENT_CHANNELS = 4


def is_inpainting(unet: torch.nn.Module) -> bool:
    """A 9-channel UNet: latents + mask + masked-image latents."""
    return int(unet.config.in_channels) == 2 * LATENT_CHANNELS + 1


def latent_channels(pipe) -> int:
    """Channels of the latents the sampler works on (the VAE's, not the UNet's input)."""
    return int(getattr(pipe.vae.config, "latent_channels", LATENT_CHANNELS))


@torch.no_grad()
def encode(pipe, pixels: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) pixels in [-1, 1] -> scaled latents (float32), one image at a time (the CPU VAE is not
    batch-invariant to the last bit, and A1111 encodes a batch image by image)."""
    vae = pipe.vae
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    device = next(vae.parameters()).device
    out = []
    for i in range(pixels.shape[0]):
        latent = vae.encode(pixels[i:i + 1].to(device, vae.dtype)).latent_dist.mode()
        out.append(((latent - shift) * vae.config.scaling_factor).float())
    return torch.cat(out)


def mask_tensor(mask: Image.Image, round_mask: bool) -> torch.Tensor:
    """(1, 1, H, W) in [0, 1] from an L mask (255 = repainted)."""
    arr = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    out = torch.from_numpy(arr)[None, None]
    return torch.round(out) if round_mask else out


def masked_image_conditioning(pipe, source: torch.Tensor, latent_hw: tuple[int, int], mask: Image.Image | None,
                              round_mask: bool, weight: float) -> torch.Tensor:
    """A1111 `inpainting_image_conditioning`: (B, 5, h, w) from (B, 3, H, W) pixels in [-1, 1]."""
    cond_mask = (mask_tensor(mask, round_mask) if mask is not None
                 else source.new_ones(1, 1, *source.shape[-2:]))
    cond_mask = cond_mask.to(source.device, source.dtype)
    image = torch.lerp(source, source * (1.0 - cond_mask), weight)
    latents = encode(pipe, image)
    small = torch.nn.functional.interpolate(cond_mask, size=latent_hw).expand(latents.shape[0], -1, -1, -1)
    return torch.cat([small.to(latents.device), latents], dim=1)


def txt2img_conditioning(pipe, batch: int, width: int, height: int) -> torch.Tensor:
    """A1111 `txt2img_image_conditioning` for inpainting models: the whole picture masked over mid-grey."""
    latents = encode(pipe, torch.zeros(1, 3, height, width)).expand(batch, -1, -1, -1)
    return torch.nn.functional.pad(latents, (0, 0, 0, 0, 1, 0), value=1.0)


def images_to_pixels(images: list[Image.Image]) -> torch.Tensor:
    """RGB images -> (B, 3, H, W) float32 in [-1, 1] (A1111 `image / 255 * 2 - 1`)."""
    arr = np.stack([np.moveaxis(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0, 2, 0) for img in images])
    return torch.from_numpy(arr) * 2 - 1


@torch.no_grad()
def decode_raw(pipe, latents: torch.Tensor) -> torch.Tensor:
    """Latents -> (B, 3, H, W) pixels in about [-1, 1], unclamped (A1111 `decode_first_stage`), image by image."""
    vae = pipe.vae
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    out = [vae.decode(latents[i:i + 1].to(vae.dtype) / vae.config.scaling_factor + shift).sample.float()
           for i in range(latents.shape[0])]
    return torch.cat(out)


def hires_conditioning(pipe, latents: torch.Tensor, weight: float, round_mask: bool) -> torch.Tensor:
    """The hires pass of an inpainting model (A1111 `sample_hr_pass`): a full mask over mid-grey unless
    `inpainting_mask_weight` < 1, which conditions on the upscaled picture itself. Deviation: A1111 builds it
    before cutting the latents to the requested size (a shape error when they are cut) and, after an image
    upscaler, from pixels in [0, 1] instead of [-1, 1]; Easel conditions on the final latents, decoded."""
    height, width = latents.shape[2] * pipe.vae_scale_factor, latents.shape[3] * pipe.vae_scale_factor
    if weight >= 1.0:
        return txt2img_conditioning(pipe, latents.shape[0], width, height)
    return masked_image_conditioning(pipe, decode_raw(pipe, latents), tuple(latents.shape[2:]), None, round_mask,
                                     weight)
