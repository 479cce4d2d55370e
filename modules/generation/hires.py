"""The torch-free part of the hires fix: upscaler names and the target size (checked before any work starts).

The second pass itself is modules/engine/hires.py.
"""
from __future__ import annotations

LATENT_UPSCALE_MODES: dict[str, tuple[str, bool]] = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
DEFAULT_UPSCALER = "Latent"
DEFAULT_DENOISING = 0.7
SAME_SAMPLER = "Use same sampler"
SAME_SCHEDULER = "Use same scheduler"
LATENT_FACTOR = 8


def target_size(width: int, height: int, hr_scale: float, resize_x: int, resize_y: int) -> tuple[int, int, int, int]:
    """A1111 `calculate_target_resolution`: (upscale_to_x, upscale_to_y, truncate_x, truncate_y), the truncation
    in pixels (A1111 keeps it in latent units of 8 pixels; the crop is the same for 8x VAEs)."""
    if resize_x == 0 and resize_y == 0:
        return int(width * hr_scale), int(height * hr_scale), 0, 0
    if resize_y == 0:
        return resize_x, resize_x * height // width, 0, 0
    if resize_x == 0:
        return resize_y * width // height, resize_y, 0, 0
    if width / height < resize_x / resize_y:
        to_x, to_y = resize_x, resize_x * height // width
    else:
        to_x, to_y = resize_y * width // height, resize_y
    return to_x, to_y, to_x - resize_x, to_y - resize_y


def final_size(width: int, height: int, hr_scale: float, resize_x: int, resize_y: int) -> tuple[int, int]:
    """The size of the image a hires generation returns (latent grid of the target, minus the crop)."""
    to_x, to_y, tx, ty = target_size(width, height, hr_scale, resize_x, resize_y)
    f = LATENT_FACTOR
    return (to_x // f - tx // f) * f, (to_y // f - ty // f) * f


def upscaler_names() -> list[str]:
    """Every valid `hr_upscaler`: the Latent modes, then the image upscalers (None, Lanczos, Nearest, ...)."""
    from modules import upscalers

    return [*LATENT_UPSCALE_MODES, *(u.name for u in upscalers.list_upscalers())]

