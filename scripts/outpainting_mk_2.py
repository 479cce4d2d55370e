"""Built-in selectable script "Outpainting mk2" (img2img only), A1111 1.10 semantics.

Args (A1111 order): info html (ignored), pixels to expand (8..256), mask blur, directions (any of "left", "right",
"up", "down"), fall-off exponent `noise_q`, colour variation; e.g. the managed-service example
`["Outpainting", 128, 8, ["left", "right", "up", "down"], 1, 0.05]`. The canvas grows to a multiple of 64 (the
growth shared between opposite sides); each direction is one inpainting pass in turn ("Whole picture", masked
content "original", mask blur x4) over a strip the size of the request's width/height at most, whose new part
starts as noise matched to the picture (modules/outpainting.py). batch_size images per pass, n_iter rounds.
The answer: a grid first when there is more than one image (return_grid), then the images, each with the first
pass's infotext. The passes count against the image cap before the request is queued (`plan`).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

from modules import images, processing, script_results, scripts, shared
from modules.errors import InvalidRequestError
from modules.outpainting import DIRECTIONS, Growth, keep_area, matched_noise


def _check(p: Any, pixels: Any, mask_blur: Any, direction: Any) -> tuple[int, int, list[str]]:
    if not p.init_images:
        raise InvalidRequestError("Outpainting mk2 needs an init image", field="init_images")
    if isinstance(direction, str):
        direction = [direction]
    if not isinstance(direction, (list, tuple)) or any(d not in DIRECTIONS for d in direction):
        raise InvalidRequestError(f"Outpainting mk2: directions must be a list of {', '.join(DIRECTIONS)}; "
                                  f"got {direction!r}", field="script_args")
    try:
        pixels, mask_blur = int(pixels), int(mask_blur)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"Outpainting mk2: pixels and mask blur must be numbers ({exc})",
                                  field="script_args") from exc
    if not 0 <= pixels <= 2048 or not 0 <= mask_blur <= 64:
        raise InvalidRequestError("Outpainting mk2: pixels to expand must be 0..2048 and mask blur 0..64",
                                  field="script_args")
    return pixels, mask_blur, list(direction)


def _pass_size(p: Any, size: tuple[int, int], side: str, grow: int, process: tuple[int, int]) -> tuple[int, int]:
    """The processing size of one pass over an image of `size` (A1111: the strip is at most the request's size)."""
    horizontal = side in ("left", "right")
    res_w, res_h = size[0] + (grow if horizontal else 0), size[1] + (0 if horizontal else grow)
    canvas_w, canvas_h = math.ceil(res_w / 64) * 64, math.ceil(res_h / 64) * 64
    if horizontal:
        return min(process[0], res_w), canvas_h
    return canvas_w, min(process[1], res_h)


class Script(scripts.Script):
    def title(self) -> str:
        return "Outpainting mk2"

    def show(self, is_img2img: bool) -> bool:
        return is_img2img

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        info = gr.HTML("<p style=\"margin-bottom:0.75em\">Recommended settings: Sampling Steps: 80-100, Sampler: "
                       "Euler a, Denoising strength: 0.8</p>")
        pixels = gr.Slider(label="Pixels to expand", minimum=8, maximum=256, step=8, value=128,
                           elem_id=self.elem_id("pixels"))
        mask_blur = gr.Slider(label="Mask blur", minimum=0, maximum=64, step=1, value=8,
                              elem_id=self.elem_id("mask_blur"))
        direction = gr.CheckboxGroup(label="Outpainting direction", choices=list(DIRECTIONS), value=list(DIRECTIONS),
                                     elem_id=self.elem_id("direction"))
        noise_q = gr.Slider(label="Fall-off exponent (lower=higher detail)", minimum=0.0, maximum=4.0, step=0.01,
                            value=1.0, elem_id=self.elem_id("noise_q"))
        color_variation = gr.Slider(label="Color variation", minimum=0.0, maximum=1.0, step=0.01, value=0.05,
                                    elem_id=self.elem_id("color_variation"))
        return [info, pixels, mask_blur, direction, noise_q, color_variation]

    def plan(self, p: Any, _info: Any, pixels: Any, mask_blur: Any, direction: Any, noise_q: Any = 1.0,
             color_variation: Any = 0.05) -> Iterator[Any]:
        pixels, mask_blur, direction = _check(p, pixels, mask_blur, direction)
        init = p.init_images[0]
        growth = Growth.of(init.width, init.height, pixels, direction)
        for _ in range(p.n_iter):
            size = init.size
            for side, grow in growth.passes():
                cell = copy.copy(p)
                cell.n_iter = 1
                cell.width, cell.height = _pass_size(p, size, side, grow, (p.width, p.height))
                horizontal = side in ("left", "right")
                size = (size[0] + (grow if horizontal else 0), size[1] + (0 if horizontal else grow))
                yield cell

    def run(self, p: Any, _info: Any, pixels: Any, mask_blur: Any, direction: Any, noise_q: Any = 1.0,
            color_variation: Any = 0.05) -> Any:
        pixels, mask_blur, direction = _check(p, pixels, mask_blur, direction)
        noise_q, color_variation = float(noise_q), float(color_variation)
        save_wanted = not p.do_not_save_samples
        process = (p.width, p.height)
        p.mask_blur_x = p.mask_blur_y = mask_blur * 4
        p.inpaint_full_res = False
        p.inpainting_fill = 1
        p.do_not_save_samples = True
        p.do_not_save_grid = True
        requested_seed = p.seed
        init = p.init_images[0]
        growth = Growth.of(init.width, init.height, pixels, direction)
        passes = growth.passes()
        rounds, batch_size = p.n_iter, p.batch_size
        p.n_iter = 1
        first = None
        done: list[Image.Image] = []
        job = 0
        for _ in range(rounds):
            canvases = [init] * batch_size
            for side, grow in passes:
                if shared.state.interrupted:
                    break
                p.seed = requested_seed  # A1111 leaves p.seed as given: -1 draws a new seed for every pass
                p.job_offset, p.job_total = job, rounds * len(passes)
                canvases, result = self._expand(p, canvases, side, grow, mask_blur, process, noise_q,
                                                color_variation)
                job += 1
                first = first or result
            done += canvases
        if first is None:
            return processing.process_images(p)
        out = list(done)
        if shared.opts.get("return_grid") and len(done) > 1:
            out = [images.make_grid(done), *done]
        interrupted = bool(shared.state.interrupted)
        script_results.save_final(p, script_results.combined(first, done, seed=None), save_wanted)
        return script_results.combined(first, out, seed=None, interrupted=interrupted)

    def _expand(self, p: Any, canvases: list[Image.Image], side: str, grow: int, mask_blur: int,
                process: tuple[int, int], noise_q: float, color_variation: float):
        """One direction for every image of the batch: paint the new strip with matched noise, inpaint it, paste
        the result back (A1111's `expand`)."""
        is_left, is_right, is_top, is_bottom = (side == d for d in DIRECTIONS)
        horizontal = is_left or is_right
        grow_x, grow_y = (grow, 0) if horizontal else (0, grow)
        to_process, noised, sizes = [], [], []
        mask = None
        for canvas in canvases:
            res_w, res_h = canvas.width + grow_x, canvas.height + grow_y
            sizes.append((res_w, res_h))
            width, height = math.ceil(res_w / 64) * 64, math.ceil(res_h / 64) * 64
            img = Image.new("RGB", (width, height))
            img.paste(canvas, (grow_x if is_left else 0, grow_y if is_top else 0))
            mask = Image.new("RGB", (width, height), "white")
            keep_area(mask, (grow + mask_blur if is_left else 0, grow + mask_blur if is_top else 0,
                             width - grow - mask_blur if is_right else res_w,
                             height - grow - mask_blur if is_bottom else res_h))
            painted = matched_noise(np.asarray(img) / 255.0, np.asarray(mask) / 255.0, noise_q, color_variation)
            noised.append(Image.fromarray(np.clip(painted * 255.0, 0, 255).astype(np.uint8), mode="RGB"))
            target_w = min(process[0], res_w) if horizontal else width
            target_h = min(process[1], res_h) if not horizontal else height
            p.width, p.height = target_w, target_h
            box = (0 if is_left else width - target_w, 0 if is_top else height - target_h,
                   target_w if is_left else width, target_h if is_top else height)
            mask = mask.crop(box)
            p.mask = mask
            to_process.append(noised[-1].crop(box))
        p.init_images = to_process
        latent_mask = Image.new("RGB", (p.width, p.height), "white")
        res_w, res_h = sizes[-1]
        keep_area(latent_mask, (grow + mask_blur * 2 if is_left else 0, grow + mask_blur * 2 if is_top else 0,
                                mask.width - grow - mask_blur * 2 if is_right else res_w,
                                mask.height - grow - mask_blur * 2 if is_bottom else res_h))
        p.latent_mask = latent_mask
        p.all_seeds, p.all_subseeds, p.all_prompts, p.all_negative_prompts = [], [], [], []
        result = processing.process_images(p)
        out = []
        for n, base in enumerate(noised):
            if n < len(result.images):
                made = result.images[n]
                base.paste(made, (0 if is_left else base.width - made.width, 0 if is_top else base.height - made.height))
            out.append(base.crop((0, 0, *sizes[n])))
        return out, result

