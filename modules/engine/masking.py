"""Inpainting masks as A1111 1.10 prepares them (modules/masking.py and the mask half of
`StableDiffusionProcessingImg2Img.init`): binary masks from alpha, separable Gaussian blur, the "Only masked"
crop region and the "fill" masked-content mode. Pure PIL / NumPy / OpenCV: no torch.
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps

# "fill": the blurred picture is layered from very blurry to sharp; (radius, how many times it is composited)
_FILL_LAYERS = ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1))


def binary_mask(image: Image.Image, round_mask: bool = True) -> Image.Image:
    """A1111 `create_binary_mask`: an RGBA mask with real transparency is its alpha channel (thresholded at 128
    when `round_mask`); anything else is its greyscale."""
    if image.mode == "RGBA" and image.getextrema()[-1] != (255, 255):
        alpha = image.getchannel("A")
        return alpha.point(lambda v: 255 if v > 128 else 0) if round_mask else alpha
    return image.convert("L")


def _kernel(sigma: int) -> int:
    return 2 * int(2.5 * sigma + 0.5) + 1


def blur_mask(mask: Image.Image, blur_x: int, blur_y: int) -> Image.Image:
    """Horizontal then vertical Gaussian blur with A1111's kernel sizes (OpenCV, reflect-101 borders)."""
    arr = np.array(mask)
    if blur_x > 0:
        arr = cv2.GaussianBlur(arr, (_kernel(blur_x), 1), blur_x)
    if blur_y > 0:
        arr = cv2.GaussianBlur(arr, (1, _kernel(blur_y)), blur_y)
    return Image.fromarray(arr)


def crop_region(mask: Image.Image, pad: int = 0) -> tuple[int, int, int, int] | None:
    """A1111 `get_crop_region_v2`: the box around every non-zero pixel, grown by `pad` within the image, or None
    for an all-black mask."""
    box = mask.getbbox()
    if not box:
        return None
    if not pad:
        return box
    x1, y1, x2, y2 = box
    return max(x1 - pad, 0), max(y1 - pad, 0), min(x2 + pad, mask.width), min(y2 + pad, mask.height)


def _grow(lo: int, hi: int, wanted: float, limit: int) -> tuple[int, int]:
    """Grow [lo, hi) to `wanted` length about its centre, shifted back inside [0, limit]."""
    diff = int(wanted - (hi - lo))
    lo -= diff // 2
    hi += diff - diff // 2
    if hi >= limit:
        lo, hi = lo - (hi - limit), limit
    if lo < 0:
        hi, lo = hi - lo, 0
    return lo, min(hi, limit)


def expand_crop_region(region: tuple[int, int, int, int], width: int, height: int, image_width: int,
                       image_height: int) -> tuple[int, int, int, int]:
    """A1111 `expand_crop_region`: widen the crop box to the processing aspect ratio width:height."""
    x1, y1, x2, y2 = region
    ratio = width / height
    if (x2 - x1) / (y2 - y1) > ratio:
        y1, y2 = _grow(y1, y2, (x2 - x1) / ratio, image_height)
    else:
        x1, x2 = _grow(x1, x2, (y2 - y1) * ratio, image_width)
    return x1, y1, x2, y2


def fill(image: Image.Image, mask: Image.Image) -> Image.Image:
    """A1111 `masking.fill` (inpainting_fill 0): the masked area is painted with ever less blurred copies of the
    unmasked picture, so it holds the surrounding colours."""
    keep = Image.new("RGBa", image.size)
    keep.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    out = Image.new("RGBA", image.size)
    for radius, times in _FILL_LAYERS:
        layer = keep.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(times):
            out.alpha_composite(layer)
    return out.convert("RGB")


def overlay_of(image: Image.Image, mask: Image.Image) -> Image.Image:
    """The original picture with alpha = 255 - mask (A1111's `overlay_images`): composited over the result, it
    puts the untouched pixels back."""
    layer = Image.new("RGBa", image.size)
    layer.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    return layer.convert("RGBA")


def doubled(mask: Image.Image) -> Image.Image:
    """The whole-picture overlay mask: values doubled (so half-blurred edges are already fully repainted)."""
    arr = np.clip(np.array(mask).astype(np.float32) * 2, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)
