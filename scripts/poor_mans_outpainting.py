"""Built-in selectable script "Poor man's outpainting" (img2img only), A1111 1.10 semantics.

Args (A1111 order): pixels to expand, mask blur, masked content (index 0..3 or "fill", "original", "latent noise",
"latent nothing"), directions (any of "left", "right", "up", "down"). The canvas grows to a multiple of 64 (the
growth shared between opposite sides), the picture sits at its old place on black, and the canvas is cut into
tiles of the request's width x height overlapping by `pixels`; every tile that reaches into the new border is
inpainted ("Whole picture", mask blur x2, seed + 1 per tile) and the tiles are blended back. One image is
answered: the grown picture, with the first tile's infotext. The tiles count against the image cap before the
request is queued (`plan`).
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from PIL import Image

from modules import images, processing, script_results, scripts, shared
from modules.errors import InvalidRequestError
from modules.outpainting import DIRECTIONS, Growth, keep_area

FILLS = ("fill", "original", "latent noise", "latent nothing")


def _args(p: Any, pixels: Any, mask_blur: Any, inpainting_fill: Any, direction: Any) -> tuple[int, int, int, list]:
    if not p.init_images:
        raise InvalidRequestError("Poor man's outpainting needs an init image", field="init_images")
    if isinstance(direction, str):
        direction = [direction]
    if not isinstance(direction, (list, tuple)) or any(d not in DIRECTIONS for d in direction):
        raise InvalidRequestError(f"Poor man's outpainting: directions must be a list of {', '.join(DIRECTIONS)}; "
                                  f"got {direction!r}", field="script_args")
    if isinstance(inpainting_fill, str) and inpainting_fill in FILLS:
        inpainting_fill = FILLS.index(inpainting_fill)
    try:
        pixels, mask_blur, inpainting_fill = int(pixels), int(mask_blur), int(inpainting_fill)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"Poor man's outpainting: invalid arguments ({exc})", field="script_args") from exc
    if not 0 <= inpainting_fill <= 3:
        raise InvalidRequestError(f"Poor man's outpainting: masked content must be 0..3 or one of {', '.join(FILLS)}",
                                  field="script_args")
    if not 0 <= pixels < min(p.width, p.height) or not 0 <= mask_blur <= 64:
        raise InvalidRequestError("Poor man's outpainting: pixels to expand must be below the request's width and "
                                  "height (the tiles overlap by that much), mask blur 0..64", field="script_args")
    return pixels, mask_blur, inpainting_fill, list(direction)


def _canvas(init: Image.Image, pixels: int, mask_blur: int, direction: list[str]):
    """The grown picture, its mask and latent mask, and the growth on each side (A1111's layout)."""
    growth = Growth.of(init.width, init.height, pixels, direction)
    left, right, up, down = growth.left, growth.right, growth.up, growth.down
    target_w, target_h = init.width + left + right, init.height + up + down
    img = Image.new("RGB", (target_w, target_h))
    img.paste(init, (left, up))

    def keep_box(margin: int) -> Image.Image:
        mask = Image.new("L", img.size, "white")
        keep_area(mask, (left + (margin if left > 0 else 0), up + (margin if up > 0 else 0),
                         target_w - right - (margin if right > 0 else 0), target_h - down - (margin if down > 0 else 0)))
        return mask

    return img, keep_box(mask_blur * 2), keep_box(mask_blur // 2), (left, right, up, down)


def _border_tiles(grid: images.TileGrid, growth: tuple[int, int, int, int]) -> Iterator[tuple[int, int, list]]:
    """(row, column, tile) of every tile that is not wholly inside the old picture."""
    left, right, up, down = growth
    for r, (y, h, row) in enumerate(grid.tiles):
        for c, tile in enumerate(row):
            x, w = tile[0], tile[1]
            if x >= left and x + w <= grid.image_w - right and y >= up and y + h <= grid.image_h - down:
                continue
            yield r, c, tile


class Script(scripts.Script):
    def title(self) -> str:
        return "Poor man's outpainting"

    def show(self, is_img2img: bool) -> bool:
        return is_img2img

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        pixels = gr.Slider(label="Pixels to expand", minimum=8, maximum=256, step=8, value=128,
                           elem_id=self.elem_id("pixels"))
        mask_blur = gr.Slider(label="Mask blur", minimum=0, maximum=64, step=1, value=4,
                              elem_id=self.elem_id("mask_blur"))
        inpainting_fill = gr.Radio(label="Masked content", choices=list(FILLS), value="fill", type="index",
                                   elem_id=self.elem_id("inpainting_fill"))
        direction = gr.CheckboxGroup(label="Outpainting direction", choices=list(DIRECTIONS), value=list(DIRECTIONS),
                                     elem_id=self.elem_id("direction"))
        return [pixels, mask_blur, inpainting_fill, direction]

    def plan(self, p: Any, pixels: Any, mask_blur: Any, inpainting_fill: Any, direction: Any) -> Iterator[Any]:
        pixels, mask_blur, _fill, direction = _args(p, pixels, mask_blur, inpainting_fill, direction)
        img, _mask, _latent, growth = _canvas(p.init_images[0], pixels, mask_blur, direction)
        grid = images.split_grid(img, p.width, p.height, pixels)
        for _tile in _border_tiles(grid, growth):
            cell = copy.copy(p)
            cell.batch_size = cell.n_iter = 1
            yield cell

    def run(self, p: Any, pixels: Any, mask_blur: Any, inpainting_fill: Any, direction: Any) -> Any:
        pixels, mask_blur, fill, direction = _args(p, pixels, mask_blur, inpainting_fill, direction)
        save_wanted = not p.do_not_save_samples
        p.mask_blur_x = p.mask_blur_y = mask_blur * 2
        p.inpainting_fill = fill
        p.inpaint_full_res = False
        img, mask, latent_mask, growth = _canvas(p.init_images[0], pixels, mask_blur, direction)
        grid = images.split_grid(img, p.width, p.height, pixels)
        masks = images.split_grid(mask, p.width, p.height, pixels)
        latents = images.split_grid(latent_mask, p.width, p.height, pixels)
        p.n_iter = p.batch_size = 1
        p.do_not_save_grid = p.do_not_save_samples = True
        work = list(_border_tiles(grid, growth))
        first = None
        for k, (r, c, tile) in enumerate(work):
            if shared.state.interrupted:
                break
            p.init_images = [tile[2]]
            p.mask = masks.tiles[r][2][c][2]
            p.latent_mask = latents.tiles[r][2][c][2]
            p.job_offset, p.job_total = k, len(work)
            p.all_seeds, p.all_subseeds, p.all_prompts, p.all_negative_prompts = [], [], [], []
            processed = processing.process_images(p)
            first = first or processed
            if processed.seeds:
                p.seed = processed.seeds[0] + 1
            tile[2] = processed.images[0] if processed.images else Image.new("RGB", (p.width, p.height))
        if first is None:
            return processing.process_images(p)
        combined = images.combine_grid(grid)
        result = script_results.combined(first, [combined], seed=None, interrupted=bool(shared.state.interrupted))
        script_results.save_final(p, result, save_wanted)
        return result
