"""Upscalers: a registry (A1111 `shared.sd_upscalers`) and the extras (postprocessing) upscale step.

Built in, as in A1111: "None", "Lanczos", "Nearest" (no model; scale 4, like A1111's UpscalerData default).
Model upscalers (ESRGAN, ...) register with `register_upscaler(info, do_upscale)`, where `do_upscale(image, scale)`
is one pass of the model (it may return any size, e.g. always x4; `upscale` loops and resizes as A1111 does).

A1111 semantics kept (docs: /work/shared/ref/a1111-api.md §8, scripts/postprocessing_upscale.py, modules/upscaler.py):
- `upscale(image, scale, name)` targets floor(size * scale) rounded down to a multiple of 8, runs up to 3 passes
  until reached, then Lanczos-resizes to that size. "None" does no pass, so it is a plain Lanczos resize there.
- In extras, upscaler_1 == "None" skips the upscale step entirely (no resize at all, empty infotext), whatever
  upscaling_resize says; upscaler_2 only runs when it is not "None" and its visibility is > 0, and is blended over
  the first result with Image.blend.
Deviation: "scale to" (resize_mode 1) produces exactly the requested size instead of A1111's multiple-of-8 floor,
which left black bands (crop) or an off-by-a-few size (no crop).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from modules.errors import InvalidRequestError
from modules.images import read_infotext
from modules.infotext import build_params_line

LANCZOS = Image.Resampling.LANCZOS
NEAREST = Image.Resampling.NEAREST

DoUpscale = Callable[[Image.Image, float], Image.Image]


@dataclass(frozen=True)
class UpscalerInfo:
    """One entry of GET /sdapi/v1/upscalers."""

    name: str
    model_name: str | None = None
    model_path: str | None = None
    model_url: str | None = None
    scale: float = 4


def _scaled(size: int, scale: float) -> int:
    """floor(size * scale), counting a product a few ULPs below an integer as that integer (640/616*616)."""
    return math.floor(size * scale + 1e-6)


def _resize_pass(resample: Image.Resampling) -> DoUpscale:
    def do_upscale(image: Image.Image, scale: float) -> Image.Image:
        return image.resize((max(1, _scaled(image.width, scale)), max(1, _scaled(image.height, scale))),
                            resample=resample)
    return do_upscale


_REGISTRY: dict[str, tuple[UpscalerInfo, DoUpscale | None]] = {
    "None": (UpscalerInfo("None"), None),
    "Lanczos": (UpscalerInfo("Lanczos"), _resize_pass(LANCZOS)),
    "Nearest": (UpscalerInfo("Nearest"), _resize_pass(NEAREST)),
}


def register_upscaler(info: UpscalerInfo, do_upscale: DoUpscale) -> None:
    """Adds (or replaces) a model upscaler; listed after the built-ins in registration order."""
    if info.name in ("None", "Lanczos", "Nearest"):
        raise ValueError(f"{info.name!r} is a built-in upscaler")
    _REGISTRY[info.name] = (info, do_upscale)


def list_upscalers() -> list[UpscalerInfo]:
    """All upscalers: None, Lanczos, Nearest, then registered ones."""
    return [info for info, _ in _REGISTRY.values()]


def get_upscaler(name: str, *, field: str = "upscaler") -> UpscalerInfo:
    """The upscaler called `name` (exact match, as A1111); InvalidRequestError(field=field) listing the valid names."""
    entry = _REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None:
        valid = ", ".join(_REGISTRY)
        raise InvalidRequestError(f"{field}: unknown upscaler {name!r}; valid upscalers: {valid}", field=field)
    return entry[0]


def _target_size(image: Image.Image, scale_or_size: float | tuple[int, int]) -> tuple[float, int, int]:
    if isinstance(scale_or_size, tuple):
        w, h = scale_or_size
        return max(w / image.width, h / image.height), int(w), int(h)
    scale = float(scale_or_size)
    w, h = _scaled(image.width, scale), _scaled(image.height, scale)
    return scale, (w // 8 * 8 if w >= 8 else max(1, w)), (h // 8 * 8 if h >= 8 else max(1, h))


def upscale(
    image: Image.Image,
    scale_or_size: float | tuple[int, int],
    name: str,
    *,
    field: str = "upscaler",
    max_pixels: int | None = None,
) -> Image.Image:
    """Upscales by a factor (result size floored to multiples of 8, as A1111) or to an exact (width, height).

    Runs the upscaler's pass up to 3 times until the target is covered (at least once when the scale is 1), then
    resizes to the target with Lanczos. Raises InvalidRequestError for an unknown name or a result over max_pixels.
    """
    info = get_upscaler(name, field=field)
    do_upscale = _REGISTRY[info.name][1]
    scale, dest_w, dest_h = _target_size(image, scale_or_size)
    if scale <= 0 or dest_w < 1 or dest_h < 1:
        raise InvalidRequestError(f"{field}: invalid upscale target", field=field)
    _check_pixels(dest_w, dest_h, max_pixels, field)
    if do_upscale is not None:
        for i in range(3):
            if image.width >= dest_w and image.height >= dest_h and (i > 0 or scale != 1):
                break
            shape = image.size
            image = do_upscale(image, scale)
            if image.size == shape:
                break
    if image.size != (dest_w, dest_h):
        image = image.resize((dest_w, dest_h), resample=LANCZOS)
    return image


def _check_pixels(width: int, height: int, max_pixels: int | None, field: str) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise InvalidRequestError(
            f"{field}: output of {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}",
            field=field,
        )


def run_extras(
    image: Image.Image,
    *,
    resize_mode: int = 0,
    upscaling_resize: float = 2,
    upscaling_resize_w: int = 512,
    upscaling_resize_h: int = 512,
    upscaling_crop: bool = True,
    upscaler_1: str | None = "None",
    upscaler_2: str | None = "None",
    extras_upscaler_2_visibility: float = 0.0,
    max_side_length: int = 0,
    max_pixels: int | None = None,
) -> tuple[Image.Image, str]:
    """The extras upscale step (A1111 postprocessing_upscale.py), returning (image, postprocessing infotext).

    resize_mode 0 scales by `upscaling_resize` (its str() is what the infotext shows: A1111 prints the API default
    as "2" but a sent 2 as "2.0"); 1 scales to cover `upscaling_resize_w` x `upscaling_resize_h` and, with
    `upscaling_crop`, centre-crops to exactly that size. `max_side_length` (> 0, mode 0) caps the longer side.
    The result's info keeps the input's infotext ("parameters", also from JPEG/WebP EXIF) and other str items and
    gets "postprocessing" = the infotext, e.g.
    "Postprocess upscale by: 2, Postprocess upscaler: Lanczos". Face restoration is not handled here.
    Raises InvalidRequestError naming the field for unknown upscalers, bad values, or outputs over `max_pixels`.
    """
    name_1, name_2 = check_extras(image, resize_mode=resize_mode, upscaling_resize=upscaling_resize,
                                  upscaling_resize_w=upscaling_resize_w, upscaling_resize_h=upscaling_resize_h,
                                  upscaling_crop=upscaling_crop, upscaler_1=upscaler_1, upscaler_2=upscaler_2,
                                  extras_upscaler_2_visibility=extras_upscaler_2_visibility,
                                  max_side_length=max_side_length, max_pixels=max_pixels)
    parameters, source_info = read_infotext(image)  # A1111: existing info (+ EXIF infotext) carries over
    if parameters:
        source_info["parameters"] = parameters
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")

    info: dict[str, object] = {}
    result = image
    if name_1 is not None:
        target, crop, field = _extras_target(image, info, resize_mode, upscaling_resize, upscaling_resize_w,
                                             upscaling_resize_h, upscaling_crop, max_side_length)
        result = _upscale_and_crop(image, target, crop, name_1, field, max_pixels)
        info["Postprocess upscaler"] = name_1
        if name_2 is not None and extras_upscaler_2_visibility > 0:
            second = _upscale_and_crop(image, target, crop, name_2, field, max_pixels)
            if second.mode != result.mode:
                second = second.convert(result.mode)
            result = Image.blend(result, second, extras_upscaler_2_visibility)
            info["Postprocess upscaler 2"] = name_2

    infotext = build_params_line(info)
    result = result.copy() if result is image else result
    result.info = {**source_info, "postprocessing": infotext}
    return result, infotext


def check_extras(
    image: Image.Image,
    *,
    resize_mode: int = 0,
    upscaling_resize: float = 2,
    upscaling_resize_w: int = 512,
    upscaling_resize_h: int = 512,
    upscaling_crop: bool = True,
    upscaler_1: str | None = "None",
    upscaler_2: str | None = "None",
    extras_upscaler_2_visibility: float = 0.0,
    max_side_length: int = 0,
    max_pixels: int | None = None,
) -> tuple[str | None, str | None]:
    """Everything `run_extras` would refuse, checked without upscaling (so an extras task is refused before it
    is queued). Returns the resolved upscaler names (None for "None")."""
    if resize_mode not in (0, 1):
        raise InvalidRequestError("resize_mode: must be 0 (scale by) or 1 (scale to)", field="resize_mode")
    if not 0 <= extras_upscaler_2_visibility <= 1:
        raise InvalidRequestError("extras_upscaler_2_visibility: must be between 0 and 1",
                                  field="extras_upscaler_2_visibility")
    name_1 = None if upscaler_1 in (None, "None") else get_upscaler(upscaler_1, field="upscaler_1").name
    name_2 = None if upscaler_2 in (None, "None") else get_upscaler(upscaler_2, field="upscaler_2").name
    if name_1 is not None:
        target, crop, field = _extras_target(image, {}, resize_mode, upscaling_resize, upscaling_resize_w,
                                             upscaling_resize_h, upscaling_crop, max_side_length)
        _check_pixels(target[0], target[1], max_pixels, field)
        if crop is not None:
            _check_pixels(crop[0], crop[1], max_pixels, field)
    return name_1, name_2


def _extras_target(
    image: Image.Image, info: dict[str, object], mode: int, by: float, to_w: int, to_h: int, crop: bool,
    max_side_length: int,
) -> tuple[tuple[int, int], tuple[int, int] | None, str]:
    """(upscaled size, crop size or None, field to blame) for the extras settings; fills the infotext keys."""
    if mode == 1:
        if to_w < 1 or to_h < 1:
            raise InvalidRequestError("upscaling_resize_w: target size must be at least 1x1", field="upscaling_resize_w")
        info["Postprocess upscale to"] = f"{to_w}x{to_h}"
        scale = max(to_w / image.width, to_h / image.height)
        size = (max(1, _scaled(image.width, scale)), max(1, _scaled(image.height, scale)))
        if crop:
            info["Postprocess crop to"] = f"{to_w}x{to_h}"
            return size, (to_w, to_h), "upscaling_resize_w"
        return size, None, "upscaling_resize_w"
    if not by > 0:
        raise InvalidRequestError("upscaling_resize: must be greater than 0", field="upscaling_resize")
    info["Postprocess upscale by"] = by
    if max_side_length and max(image.size) * by > max_side_length:
        w, h = image.width * by, image.height * by
        if h > w and h > max_side_length:
            w, h = max_side_length * w // h, max_side_length
        elif w > max_side_length:
            w, h = max_side_length, max_side_length * h // w
        info["Max side length"] = max_side_length
        return (max(1, int(w)), max(1, int(h))), None, "upscaling_resize"
    _, w, h = _target_size(image, by)
    return (w, h), None, "upscaling_resize"


def _upscale_and_crop(
    image: Image.Image, size: tuple[int, int], crop: tuple[int, int] | None, name: str, field: str,
    max_pixels: int | None,
) -> Image.Image:
    upscaled = upscale(image, size, name, field=field, max_pixels=max_pixels)
    if crop is None:
        return upscaled
    cropped = Image.new("RGB", crop)
    cropped.paste(upscaled, box=(crop[0] // 2 - upscaled.width // 2, crop[1] // 2 - upscaled.height // 2))
    return cropped
