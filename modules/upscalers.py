"""Upscalers: a registry (A1111 `shared.sd_upscalers`) and `upscale` (the Extras step is modules/postprocessing.py).

Built in, as in A1111: "None", "Lanczos", "Nearest" (no model; scale 4, like A1111's UpscalerData default).
Model upscalers (ESRGAN, ...) register with `register_upscaler(info, do_upscale)`, where `do_upscale(image, scale)`
is one pass of the model (it may return any size, e.g. always x4; `upscale` loops and resizes as A1111 does).

A1111 semantics kept (docs: /work/shared/ref/a1111-api.md §8, scripts/postprocessing_upscale.py, modules/upscaler.py):
- `upscale(image, scale, name)` targets floor(size * scale) rounded down to a multiple of 8, runs up to 3 passes
  until reached, then Lanczos-resizes to that size. "None" does no pass, so it is a plain Lanczos resize there.
Model upscalers from weight files (ESRGAN, RealESRGAN, SwinIR, DAT, HAT, ...) are registered by
modules/engine/sr_upscalers.py. This module imports neither modules.images nor torch.
"""
from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PIL import Image

from modules.errors import InvalidRequestError

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


def scaled(size: int, scale: float) -> int:
    """floor(size * scale), counting a product a few ULPs below an integer as that integer (640/616*616)."""
    return math.floor(size * scale + 1e-6)


def _resize_pass(resample: Image.Resampling) -> DoUpscale:
    def do_upscale(image: Image.Image, scale: float) -> Image.Image:
        return image.resize((max(1, scaled(image.width, scale)), max(1, scaled(image.height, scale))),
                            resample=resample)
    return do_upscale


_REGISTRY: dict[str, tuple[UpscalerInfo, DoUpscale | None]] = {
    "None": (UpscalerInfo("None"), None),
    "Lanczos": (UpscalerInfo("Lanczos"), _resize_pass(LANCZOS)),
    "Nearest": (UpscalerInfo("Nearest"), _resize_pass(NEAREST)),
}


_stop = threading.local()


@contextlib.contextmanager
def stop_check(should_stop: Callable[[], bool] | None) -> Iterator[None]:
    """Within this context, model upscalers on this thread stop between tiles once `should_stop()` is True
    (the job was interrupted); they fill the rest with a plain resize so an image still comes back."""
    previous = getattr(_stop, "check", None)
    _stop.check = should_stop
    try:
        yield
    finally:
        _stop.check = previous


def should_stop() -> bool:
    """Whether the job upscaling on this thread asked to stop (see `stop_check`)."""
    check = getattr(_stop, "check", None)
    return bool(check is not None and check())


def register_upscaler(info: UpscalerInfo, do_upscale: DoUpscale) -> None:
    """Adds (or replaces) a model upscaler; listed after the built-ins in registration order."""
    if info.name in ("None", "Lanczos", "Nearest"):
        raise ValueError(f"{info.name!r} is a built-in upscaler")
    _REGISTRY[info.name] = (info, do_upscale)


def unregister_upscaler(name: str) -> None:
    """Removes a registered model upscaler (a built-in stays)."""
    if name not in ("None", "Lanczos", "Nearest"):
        _REGISTRY.pop(name, None)


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


def target_size(image: Image.Image, scale_or_size: float | tuple[int, int]) -> tuple[float, int, int]:
    if isinstance(scale_or_size, tuple):
        w, h = scale_or_size
        return max(w / image.width, h / image.height), int(w), int(h)
    scale = float(scale_or_size)
    w, h = scaled(image.width, scale), scaled(image.height, scale)
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
    scale, dest_w, dest_h = target_size(image, scale_or_size)
    if scale <= 0 or dest_w < 1 or dest_h < 1:
        raise InvalidRequestError(f"{field}: invalid upscale target", field=field)
    check_pixels(dest_w, dest_h, max_pixels, field)
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


def check_pixels(width: int, height: int, max_pixels: int | None, field: str) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise InvalidRequestError(
            f"{field}: output of {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}",
            field=field,
        )
