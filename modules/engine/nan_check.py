"""A1111's NaN guard: a UNet or VAE output with NaNs fails the job with a clear error instead of a black image."""
from __future__ import annotations

import torch

from modules.errors import EaselError

HINTS = {
    "unet": "This could be because there's not enough precision to represent the picture, or a sampler that "
            "does not suit the model: try --precision full (or --no-half) or another sampler.",
    "vae": "This could be because there's not enough precision to represent the picture: try --no-half-vae.",
}


class NansError(EaselError):
    """A model produced NaNs (A1111's NansException)."""

    status_code = 500


def check_for_nans(x: torch.Tensor, where: str, disabled: bool) -> None:
    """Raise NansError when `x` holds a NaN, unless the check is `disabled` (option/flag disable_nan_check)."""
    if disabled or not torch.isnan(x).any():
        return
    name = "UNet" if where == "unet" else "VAE"
    raise NansError(f"A tensor with NaNs was produced in the {name}. {HINTS[where]} Set the option "
                    "disable_nan_check (or start with --disable-nan-check) to skip this check.")
