"""Unit images in, control maps out: decoding the image fields, choosing the input (unit image or the img2img
init image and mask), pixel-perfect resolution, and fitting a detected map to the generation size by the
unit's resize mode with the extension's "high quality" resize (nearest for few-colour maps, Otsu for binary
maps, edge thinning for one-pixel edges). Torch-free (numpy and OpenCV).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps

from lib_controlnet.preprocessors import hwc3
from lib_controlnet.units import Unit, bad, resize_mode_from_value
from modules import images as image_utils


@dataclass
class ControlInput:
    images: list[np.ndarray]  # HWC uint8: RGB, or RGBA (mask in alpha) for inpaint preprocessors
    resize_mode: str


def decode(data: str, where: str, max_pixels: int) -> np.ndarray:
    """A base64 / data-URL image as an HWC uint8 array (RGB, RGBA or L as sent)."""
    image = image_utils.decode_base64_image(data, field=where, max_pixels=max_pixels)
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    return np.asarray(image, dtype=np.uint8).copy()


def _pairs(unit: Unit) -> list[tuple[str, str | None]]:
    """(image, mask) pairs of the unit, from the spellings the extension accepts."""
    value = unit.image
    if value is None:
        return []
    if isinstance(value, str):
        return [(value, unit.mask)]
    if isinstance(value, dict):
        return [(value["image"], value.get("mask"))]
    if all(isinstance(v, dict) for v in value):
        return [(v["image"], v.get("mask")) for v in value]
    return [(value[0], value[1])]


def unit_images_rgba(unit: Unit, max_pixels: int) -> list[np.ndarray]:
    """Every image of the unit as RGBA: colour, and the mask's first channel (zeros without a mask) as alpha."""
    out = []
    for k, (image_b64, mask_b64) in enumerate(_pairs(unit)):
        where = unit.where("image") + (f"[{k}]" if k else "")
        rgb = hwc3(decode(image_b64, where, max_pixels))
        if mask_b64 is None:
            alpha = np.zeros_like(rgb[:, :, :1])
        else:
            alpha = hwc3(decode(mask_b64, unit.where("mask"), max_pixels))[:, :, :1]
            if alpha.shape[:2] != rgb.shape[:2]:
                raise bad(unit.index, "mask", f"mask size {alpha.shape[1]}x{alpha.shape[0]} differs from the image "
                                              f"size {rgb.shape[1]}x{rgb.shape[0]}")
        out.append(np.concatenate([rgb, alpha], axis=2))
    return out


def prepare_a1111_mask(p, size: tuple[int, int]) -> np.ndarray:
    """The img2img mask as the extension prepares it: L, inverted for "inpaint not masked", blurred by mask_blur."""
    mask = p.mask.convert("L")
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    if getattr(p, "inpainting_mask_invert", 0):
        mask = ImageOps.invert(mask)
    arr = np.asarray(mask, dtype=np.uint8).copy()
    for blur, horizontal in ((getattr(p, "mask_blur_x", 0), True), (getattr(p, "mask_blur_y", 0), False)):
        if blur > 0:
            kernel = 2 * int(2.5 * blur + 0.5) + 1
            arr = cv2.GaussianBlur(arr, (kernel, 1) if horizontal else (1, kernel), blur)
    return arr


def choose_input(unit: Unit, p, inpaint: bool, max_pixels: int) -> ControlInput:
    """The unit's own image(s); else (img2img) the init image with the img2img resize mode, plus the img2img mask
    for inpaint preprocessors. A painted mask on a non-inpaint unit turns into a scribble (the extension's
    canvas mode) unless it is empty or full."""
    images = unit_images_rgba(unit, max_pixels)
    if images:
        if not inpaint:
            images = [img[:, :, :3] if (img[:, :, 3] <= 5).all() or (img[:, :, 3] >= 250).all()
                      else hwc3(img[:, :, 3]) for img in images]
        return ControlInput(images, unit.resize_mode)
    init = getattr(p, "init_images", None)
    if getattr(p, "is_img2img", False) and init:
        rgb = np.asarray(init[0].convert("RGB"), dtype=np.uint8).copy()
        resize_mode = resize_mode_from_value(getattr(p, "resize_mode", 0), unit.index)
        if inpaint:
            alpha = (prepare_a1111_mask(p, (rgb.shape[1], rgb.shape[0])) if getattr(p, "mask", None) is not None
                     else np.zeros(rgb.shape[:2], dtype=np.uint8))
            rgb = np.concatenate([rgb, alpha[:, :, None]], axis=2)
        return ControlInput([rgb], resize_mode)
    raise bad(unit.index, "image", "the unit is enabled but has no input image (send \"image\", or use img2img, "
                                   "whose init image is the default)")


def pixel_perfect_resolution(image: np.ndarray, height: int, width: int, resize_mode: str) -> int:
    """The preprocessor resolution that maps the image onto the target size one to one (the extension's rule)."""
    raw_h, raw_w = image.shape[:2]
    k0, k1 = height / raw_h, width / raw_w
    k = min(k0, k1) if resize_mode == "Resize and Fill" else max(k0, k1)
    return int(np.round(k * min(raw_h, raw_w)))


# -- the extension's high-quality resize ------------------------------------------------------------------------
_LINES = [np.array(k, dtype=np.uint8) for k in (
    [[0, 0, 0], [1, 1, 1], [0, 0, 0]], [[0, 1, 0], [0, 1, 0], [0, 1, 0]],
    [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 0, 1], [0, 1, 0], [1, 0, 0]])]
_THIN = [np.array(k, dtype=np.int32) for k in ([[-1, -1, -1], [0, 1, 0], [1, 1, 1]],
                                               [[0, -1, -1], [1, 1, -1], [0, 1, 0]])]
_PRUNE = [np.array(k, dtype=np.int32) for k in ([[-1, -1, -1], [-1, 1, -1], [0, 0, -1]],
                                                [[-1, -1, -1], [-1, 1, -1], [-1, 0, 0]])]


def _rotations(kernels: list[np.ndarray]) -> list[np.ndarray]:
    return [np.rot90(k, r) for r in range(4) for k in kernels]


THIN_KERNELS, PRUNE_KERNELS = _rotations(_THIN), _rotations(_PRUNE)


def non_max_lines(x: np.ndarray) -> np.ndarray:
    """Keep pixels that are a maximum along any of the four line directions."""
    out = np.zeros_like(x)
    for kernel in _LINES:
        np.putmask(out, cv2.dilate(x, kernel=kernel) == x, x)
    return out


def _strip(x: np.ndarray, kernels: list[np.ndarray]) -> bool:
    """Remove every pixel matched by a hit-or-miss kernel; True when something was removed."""
    changed = False
    for kernel in kernels:
        hits = cv2.morphologyEx(x, cv2.MORPH_HITMISS, kernel) > 127
        if hits.any():
            x[hits] = 0
            changed = True
    return changed


def thin_edges(x: np.ndarray, prune: bool = True) -> np.ndarray:
    """Morphological thinning to one-pixel edges (at most 32 passes), then one pruning pass of spurs."""
    y = x.copy()
    for _ in range(32):
        if not _strip(y, THIN_KERNELS):
            break
    if prune:
        _strip(y, PRUNE_KERNELS)
    return y


def _colour_count(x: np.ndarray) -> int:
    flat = x.reshape(-1, x.shape[2]).astype(np.uint32)
    packed = flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2] if x.shape[2] >= 3 else flat[:, 0]
    return len(np.unique(packed))


def high_quality_resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a control map to `size` (w, h): nearest for maps of 3-199 colours, area down, cubic up; binary
    maps are re-binarised (Otsu) and one-pixel edges thinned back to one pixel; an inpaint mask (4th channel)
    is resized alongside and re-binarised."""
    mask = None
    if x.ndim == 3 and x.shape[2] == 4:
        mask, x = x[:, :, 3], x[:, :, :3]
    if x.shape[0] != size[1] or x.shape[1] != size[0]:
        smaller = size[0] * size[1] < x.shape[0] * x.shape[1]
        bigger = size[0] * size[1] > x.shape[0] * x.shape[1]
        colours = _colour_count(x.astype(np.uint8) if x.dtype != np.uint8 else x)
        binary = one_pixel_edge = False
        if colours == 2:
            binary = bool(np.min(x) < 16 and np.max(x) > 240)
            if binary:
                opened = cv2.dilate(cv2.erode(x, np.ones((3, 3), np.uint8)), np.ones((3, 3), np.uint8))
                one_pixel_edge = np.count_nonzero(opened < x) * 2 > np.count_nonzero(x > 127)
        if 2 < colours < 200:
            interpolation = cv2.INTER_NEAREST
        elif smaller:
            interpolation = cv2.INTER_AREA
        else:
            interpolation = cv2.INTER_CUBIC
        y = cv2.resize(x, size, interpolation=interpolation)
        if mask is not None:
            mask = cv2.resize(mask, size, interpolation=interpolation)
        if binary:
            y = np.mean(y.astype(np.float32), axis=2).clip(0, 255).astype(np.uint8)
            if one_pixel_edge:
                y = non_max_lines(y)
                _, y = cv2.threshold(y, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
                y = thin_edges(y, prune=bigger)
            else:
                _, y = cv2.threshold(y, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
            y = np.stack([y] * 3, axis=2)
    else:
        y = x
    if mask is not None:
        mask = ((mask > 127).astype(np.float32) * 255.0)[:, :, None].astype(y.dtype)
        y = np.concatenate([y, mask], axis=2)
    return np.ascontiguousarray(y)


def fit_map(detected: np.ndarray, inpaint: bool, resize_mode: str, height: int, width: int) -> np.ndarray:
    """The detected map at (height, width) by the resize mode: "Just Resize" stretches, "Crop and Resize" covers
    and crops the centre, "Resize and Fill" fits inside and fills the border with the map's median edge colour
    (an inpaint mask's border counts as masked, so the fill gets painted)."""
    detected = detected.astype(np.float32) if inpaint else hwc3(detected)
    if resize_mode == "Just Resize":
        return high_quality_resize(detected, (width, height))
    old_h, old_w = detected.shape[:2]
    k0, k1 = height / old_h, width / old_w
    if resize_mode == "Resize and Fill":
        k = min(k0, k1)
        borders = np.concatenate([detected[0, :, :], detected[-1, :, :], detected[:, 0, :], detected[:, -1, :]])
        colour = np.median(borders, axis=0).astype(detected.dtype)
        if len(colour) == 4:
            colour[3] = 255
        canvas = np.tile(colour[None, None], [height, width, 1])
        resized = high_quality_resize(detected, (int(np.round(old_w * k)), int(np.round(old_h * k))))
        new_h, new_w = resized.shape[:2]
        top, left = max(0, (height - new_h) // 2), max(0, (width - new_w) // 2)
        canvas[top:top + new_h, left:left + new_w] = resized
        return np.ascontiguousarray(canvas)
    k = max(k0, k1)
    resized = high_quality_resize(detected, (int(np.round(old_w * k)), int(np.round(old_h * k))))
    new_h, new_w = resized.shape[:2]
    top, left = max(0, (new_h - height) // 2), max(0, (new_w - width) // 2)
    return np.ascontiguousarray(resized[top:top + height, left:left + width])


def display_map(fitted: np.ndarray) -> Image.Image:
    """The detected map as returned to clients: RGB, or RGBA for inpaint maps (masked area half transparent)."""
    out = fitted.copy()
    if out.ndim == 3 and out.shape[2] == 4:
        out[:, :, 3] = 255 - out[:, :, 3] // 2
    return Image.fromarray(np.ascontiguousarray(out.clip(0, 255).astype(np.uint8)))
