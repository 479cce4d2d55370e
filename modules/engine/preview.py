"""Cheap live previews: latents mapped to RGB by a fixed linear map (A1111's "Approx cheap")."""
from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image

_SD1_COEFFS = torch.tensor([
    [0.298, 0.207, 0.208],
    [0.187, 0.286, 0.173],
    [-0.158, 0.189, 0.264],
    [-0.184, -0.271, -0.473],
])
_SDXL_COEFFS = torch.tensor([
    [0.3448, 0.4168, 0.4395],
    [-0.1953, -0.0290, 0.0250],
    [0.1074, 0.0886, -0.0163],
    [-0.3730, -0.2499, -0.2088],
])


def latent_preview(latents: torch.Tensor, family: str = "sd1") -> Image.Image:
    """Preview of the first image of a latent batch (B, 4, h, w)."""
    coeffs = _SDXL_COEFFS if family == "sdxl" else _SD1_COEFFS
    x = torch.einsum("chw,cr->hwr", latents[0].float().cpu(), coeffs)
    x = ((x + 1) / 2).clamp(0, 1)
    return Image.fromarray((x.numpy() * 255).astype(np.uint8))


def latent_preview_base64(latents: torch.Tensor, family: str = "sd1", fmt: str = "png") -> str:
    """`latent_preview` encoded as base64 ("png", "jpeg" or "webp"), without a data: prefix."""
    buffer = io.BytesIO()
    latent_preview(latents, family).save(buffer, format=fmt.upper())
    return base64.b64encode(buffer.getvalue()).decode("ascii")
