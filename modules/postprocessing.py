"""The Extras (postprocessing) step: A1111's postprocessing_upscale, postprocessing_gfpgan and
postprocessing_codeformer scripts, in their order.

A1111 semantics kept (docs: /work/shared/ref/a1111-api.md §8, scripts/postprocessing_upscale.py):
- upscaler_1 == "None" skips the upscale step entirely (no resize at all, no upscale infotext), whatever
  upscaling_resize says; upscaler_2 only runs when it is not "None" and its visibility is > 0, and is blended over
  the first result with Image.blend.
- GFPGAN / CodeFormer run when their visibility is > 0, on the upscaled image, blended with Image.blend when the
  visibility is below 1; `upscale_first` is accepted and ignored, as in A1111 1.10 (the order is fixed).
Deviations: "scale to" (resize_mode 1) produces exactly the requested size instead of A1111's multiple-of-8 floor,
which left black bands (crop) or an off-by-a-few size (no crop); a face restorer asked for but not installed is a
4xx (A1111 returns the image unchanged).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from PIL import Image

from modules import upscalers
from modules.errors import InvalidRequestError
from modules.images import read_infotext
from modules.infotext import build_params_line


class FaceRestorersLike(Protocol):
    """What the extras step needs of modules.engine.face_restoration.FaceRestorers."""

    def installed(self) -> list[str]: ...

    def restore(self, image: Image.Image, name: str, codeformer_weight: float = 0.5, *,
                field: str = "face_restoration_model") -> Image.Image: ...


@dataclass(frozen=True)
class ExtrasSettings:
    """The A1111 extras fields (declared once: the pipeline stores them in the task, `run_extras` reads them)."""

    resize_mode: int = 0
    upscaling_resize: float = 2
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str | None = "None"
    upscaler_2: str | None = "None"
    extras_upscaler_2_visibility: float = 0.0
    gfpgan_visibility: float = 0.0
    codeformer_visibility: float = 0.0
    codeformer_weight: float = 0.0
    max_side_length: int = 0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ExtrasSettings:
        """The settings among `params` (an extras body's fields; other keys are ignored)."""
        return cls(**{f.name: params[f.name] for f in fields(cls) if f.name in params})

    def as_params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def run_extras(image: Image.Image, *, max_pixels: int | None = None, face_restorers: FaceRestorersLike | None = None,
               **params: Any) -> tuple[Image.Image, str]:
    """The extras upscale step (A1111 postprocessing_upscale.py), returning (image, postprocessing infotext);
    `params` are ExtrasSettings fields.

    resize_mode 0 scales by `upscaling_resize` (its str() is what the infotext shows: A1111 prints the API default
    as "2" but a sent 2 as "2.0"); 1 scales to cover `upscaling_resize_w` x `upscaling_resize_h` and, with
    `upscaling_crop`, centre-crops to exactly that size. `max_side_length` (> 0, mode 0) caps the longer side.
    The result's info keeps the input's infotext ("parameters", also from JPEG/WebP EXIF) and other str items and
    gets "postprocessing" = the infotext, e.g.
    "Postprocess upscale by: 2, Postprocess upscaler: Lanczos".
    Then, as A1111's postprocessing scripts in their order (upscale 1000, GFPGAN 2000, CodeFormer 3000): GFPGAN when
    `gfpgan_visibility` > 0 and CodeFormer (with `codeformer_weight`) when `codeformer_visibility` > 0, each
    blended over the image with its visibility ("GFPGAN visibility", "CodeFormer visibility", "CodeFormer weight"
    in the infotext). A restorer asked for but not installed is a 4xx naming its visibility field.
    Raises InvalidRequestError naming the field for unknown upscalers, bad values, or outputs over `max_pixels`.
    """
    settings = ExtrasSettings(**params)
    name_1, name_2 = check_extras(image, max_pixels=max_pixels, face_restorers=face_restorers, **params)
    parameters, source_info = read_infotext(image)  # A1111: existing info (+ EXIF infotext) carries over
    if parameters:
        source_info["parameters"] = parameters
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")

    info: dict[str, object] = {}
    result = image
    if name_1 is not None:
        target, crop, field = _extras_target(image, info, settings)
        result = _upscale_and_crop(image, target, crop, name_1, field, max_pixels)
        info["Postprocess upscaler"] = name_1
        if name_2 is not None and settings.extras_upscaler_2_visibility > 0:
            second = _upscale_and_crop(image, target, crop, name_2, field, max_pixels)
            if second.mode != result.mode:
                second = second.convert(result.mode)
            result = Image.blend(result, second, settings.extras_upscaler_2_visibility)
            info["Postprocess upscaler 2"] = name_2

    result = _restore_faces(result, info, settings.gfpgan_visibility, settings.codeformer_visibility,
                            settings.codeformer_weight, face_restorers)
    infotext = build_params_line(info)
    result = result.copy() if result is image else result
    result.info = {**source_info, "postprocessing": infotext}
    return result, infotext


def check_extras(image: Image.Image, *, max_pixels: int | None = None,
                 face_restorers: FaceRestorersLike | None = None, **params: Any) -> tuple[str | None, str | None]:
    """Everything `run_extras` would refuse, checked without running it (an extras task is refused before it is
    queued). Returns the resolved upscaler names (None for "None")."""
    s = ExtrasSettings(**params)
    if s.resize_mode not in (0, 1):
        raise InvalidRequestError("resize_mode: must be 0 (scale by) or 1 (scale to)", field="resize_mode")
    for name in ("extras_upscaler_2_visibility", "gfpgan_visibility", "codeformer_visibility", "codeformer_weight"):
        if not 0 <= getattr(s, name) <= 1:
            raise InvalidRequestError(f"{name}: must be between 0 and 1", field=name)
    for name, field in (("GFPGAN", "gfpgan_visibility"), ("CodeFormer", "codeformer_visibility")):
        if getattr(s, field) > 0 and (face_restorers is None or name not in face_restorers.installed()):
            raise InvalidRequestError(f"{field}: {name} is not installed (no usable model file for it)", field=field)
    name_1 = None if s.upscaler_1 in (None, "None") else upscalers.get_upscaler(s.upscaler_1, field="upscaler_1").name
    name_2 = None if s.upscaler_2 in (None, "None") else upscalers.get_upscaler(s.upscaler_2, field="upscaler_2").name
    if name_1 is not None:
        target, crop, field = _extras_target(image, {}, s)
        upscalers.check_pixels(target[0], target[1], max_pixels, field)
        if crop is not None:
            upscalers.check_pixels(crop[0], crop[1], max_pixels, field)
    return name_1, name_2


def _extras_target(image: Image.Image, info: dict[str, object],
                   s: ExtrasSettings) -> tuple[tuple[int, int], tuple[int, int] | None, str]:
    """(upscaled size, crop size or None, field to blame) for the extras settings; fills the infotext keys."""
    mode, by, to_w, to_h, crop = s.resize_mode, s.upscaling_resize, s.upscaling_resize_w, s.upscaling_resize_h, \
        s.upscaling_crop
    max_side_length = s.max_side_length
    if mode == 1:
        if to_w < 1 or to_h < 1:
            raise InvalidRequestError("upscaling_resize_w: target size must be at least 1x1", field="upscaling_resize_w")
        info["Postprocess upscale to"] = f"{to_w}x{to_h}"
        scale = max(to_w / image.width, to_h / image.height)
        size = (max(1, upscalers.scaled(image.width, scale)), max(1, upscalers.scaled(image.height, scale)))
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
    _, w, h = upscalers.target_size(image, by)
    return (w, h), None, "upscaling_resize"


def _upscale_and_crop(
    image: Image.Image, size: tuple[int, int], crop: tuple[int, int] | None, name: str, field: str,
    max_pixels: int | None,
) -> Image.Image:
    upscaled = upscalers.upscale(image, size, name, field=field, max_pixels=max_pixels)
    if crop is None:
        return upscaled
    cropped = Image.new("RGB", crop)
    cropped.paste(upscaled, box=(crop[0] // 2 - upscaled.width // 2, crop[1] // 2 - upscaled.height // 2))
    return cropped


def _restore_faces(image: Image.Image, info: dict[str, object], gfpgan_visibility: float,
                   codeformer_visibility: float, codeformer_weight: float,
                   restorers: FaceRestorersLike | None) -> Image.Image:
    for name, visibility, field in (("GFPGAN", gfpgan_visibility, "gfpgan_visibility"),
                                    ("CodeFormer", codeformer_visibility, "codeformer_visibility")):
        if visibility <= 0 or restorers is None:
            continue
        restored = restorers.restore(image, name, codeformer_weight, field=field)
        if visibility < 1:
            base = image if image.mode == restored.mode else image.convert(restored.mode)
            restored = Image.blend(base, restored, visibility)
        image = restored
        info[f"{name} visibility"] = round(visibility, 3)
        if name == "CodeFormer":
            info["CodeFormer weight"] = round(codeformer_weight, 3)
    return image
