"""One generation's ControlNet work on the worker: for each enabled unit, choose its input, run the
preprocessor, fit the map to the first pass (and to the hires pass), load the model and build the UNet patch;
after decoding, the inpaint_only / recolor post-processing; at the end, the detected maps for the response.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from lib_controlnet import images, preprocessors
from lib_controlnet.catalog import Catalog, ResolvedUnit
from lib_controlnet.hook import ActiveUnit, ControlNetPatch, hint_tensor
from modules.errors import InvalidRequestError, ModelLoadError

logger = logging.getLogger(__name__)
FAMILY_NAMES = {"sd1": "SD1.x", "sd2": "SD2.x", "sdxl": "SDXL"}


@dataclass
class ControlNetRun:
    """What the script keeps on `p` (as `p.controlnet_run`) between its hooks of one generation."""

    patch: ControlNetPatch
    maps: list[Image.Image] = field(default_factory=list)  # detected maps, appended to the result
    post: list = field(default_factory=list)  # (decoded PIL image, index) -> PIL image


def _numpy_seed(p) -> int:
    """The extension seeds numpy from the request (seed + subseed) so shuffle maps are reproducible."""
    seed = p.all_seeds[0] if p.all_seeds else max(int(p.seed), 0)
    subseed = p.all_subseeds[0] if p.all_subseeds else max(int(p.subseed), 0)
    return (int(seed) + int(subseed)) & 0xFFFFFFFF


def _target_sizes(p) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """((h, w) of the first pass, (h, w) of the hires pass or None)."""
    from modules.generation.hires import final_size

    low = (p.height // 8 * 8, p.width // 8 * 8)
    if p.mode != "txt2img" or not getattr(p, "enable_hr", False):
        return low, None
    width, height = final_size(p.width, p.height, p.hr_scale, p.hr_resize_x, p.hr_resize_y)
    return low, (height, width)


def start(p, resolved: list[ResolvedUnit], catalog: Catalog, family: str) -> ControlNetRun | None:
    """Prepare every resolved unit (enabled, module and model known) and return the run, or None without units."""
    if not resolved:
        return None
    low, high = _target_sizes(p)
    device, dtype = catalog.device_and_dtype()
    rng = np.random.default_rng(_numpy_seed(p))
    run = ControlNetRun(ControlNetPatch([]))
    keep_maps = not catalog.option("control_net_no_detectmap", False)
    for item in resolved:
        unit, spec = item.unit, item.preprocessor
        try:
            loaded = catalog.load_model(item.model, device, dtype)
        except ModelLoadError as exc:
            raise ModelLoadError(f"{unit.where('model')}: {exc.message}", field=unit.where("model")) from exc
        if loaded.family != family:
            raise InvalidRequestError(
                f"{unit.where('model')}: ControlNet model {item.model.title} is for {FAMILY_NAMES[loaded.family]}, "
                f"the checkpoint is {FAMILY_NAMES.get(family, family)}", field=unit.where("model"))
        inpaint = "inpaint" in spec.name
        if spec.name == "inpaint_only" and p.is_img2img and getattr(p, "mask", None) is not None:
            logger.info("ControlNet unit %d: img2img inpaints already; inpaint_only acts as inpaint", unit.index)
            spec = preprocessors.get("inpaint")
        source = images.choose_input(unit, p, inpaint, catalog.max_pixels())
        resolution, a, b = spec.defaults(unit.processor_res, unit.threshold_a, unit.threshold_b)
        if unit.pixel_perfect:
            resolution = images.pixel_perfect_resolution(source.images[0], low[0], low[1], source.resize_mode)
        # "merge": each image acts as a unit of its own with weight / count (the extension's unfolding)
        weight = unit.weight / len(source.images)
        for image in source.images:
            detected = spec(image, resolution, a, b, rng)
            fitted = [images.fit_map(detected, inpaint, source.resize_mode, *low)]
            fitted_hr = [images.fit_map(detected, inpaint, source.resize_mode, *high)] if high else None
            if unit.save_detected_map and keep_maps:
                run.maps += [images.display_map(m) for m in (*(fitted_hr or ()), *fitted)]
            run.patch.units.append(ActiveUnit(
                index=unit.index, model=loaded, hint=hint_tensor(fitted, device),
                hr_hint=hint_tensor(fitted_hr, device) if fitted_hr else None, weight=weight,
                guidance_start=unit.guidance_start, guidance_end=unit.guidance_end,
                soft=unit.control_mode != "Balanced",
                prompt_rows_only=unit.control_mode == "ControlNet is more important",
                soft_in_hires=spec.soft_in_hires, hr_option=unit.hr_option if high else "Both",
                advanced_weighting=unit.advanced_weighting))
        final = fitted_hr if fitted_hr is not None else fitted
        if spec.name == "inpaint_only":
            run.post.append(_inpaint_only_post(final, int(catalog.option("control_net_inpaint_blur_sigma", 7))))
        elif spec.name in ("recolor_luminance", "recolor_intensity"):
            run.post.append(_recolor_post(final, spec.name))
    return run


def _inpaint_only_post(maps: list[np.ndarray], sigma: int):
    """Keep the control image outside the (dilated, blurred) unit mask: only the masked area is generated."""
    raws, masks = [], []
    for fitted in maps:
        mask = fitted[:, :, 3].astype(np.float32) / 255.0
        if sigma > 0:
            mask = cv2.blur(cv2.dilate(mask, np.ones((sigma, sigma), np.uint8)), (sigma, sigma))
        masks.append(mask[:, :, None])
        raws.append(fitted[:, :, :3].astype(np.float32))

    def post(image: Image.Image, index: int) -> Image.Image:
        k = index if index < len(raws) else 0
        arr = np.asarray(image.convert("RGB"), dtype=np.float32)
        if arr.shape[:2] != raws[k].shape[:2]:
            logger.error("ControlNet inpaint_only: result size %s differs from the map; left as is", arr.shape)
            return image
        out = masks[k] * arr + (1 - masks[k]) * raws[k]
        return Image.fromarray(out.clip(0, 255).astype(np.uint8))

    return post


def _recolor_post(maps: list[np.ndarray], name: str):
    """Put the control map's lightness back into the result (LAB L or HSV V), as the extension does."""
    to, back, channel = ((cv2.COLOR_RGB2LAB, cv2.COLOR_LAB2RGB, 0) if name == "recolor_luminance"
                         else (cv2.COLOR_RGB2HSV, cv2.COLOR_HSV2RGB, 2))
    feeds = [m[:, :, 0].clip(0, 255).astype(np.uint8) for m in maps]

    def post(image: Image.Image, index: int) -> Image.Image:
        feed = feeds[index if index < len(feeds) else 0]
        arr = np.asarray(image.convert("RGB"), dtype=np.uint8)
        if arr.shape[:2] != feed.shape:
            logger.error("ControlNet %s: result size %s differs from the map; left as is", name, arr.shape)
            return image
        converted = cv2.cvtColor(arr, to)
        converted[:, :, channel] = feed
        return Image.fromarray(cv2.cvtColor(converted, back))

    return post
