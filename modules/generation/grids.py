"""The grid of a generation's images (A1111 `process_images`): made when the request may save a grid
(`save_images`; the WebUI always) and `return_grid` or `grid_save` is on, unless it would hold one picture and
`grid_only_if_multiple` is on. With `return_grid` it is the first image of the result (`index_of_first_image` 1)
with the first image's infotext; with `grid_save` it is written to the grids folder in `grid_format`."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from PIL import Image

from modules import images as image_utils
from modules.generation.request import GenerationResult


def grid_rows(options: Any, count: int, batch_size: int) -> int:
    """A1111 `image_grid` rows: `n_rows` > 0 as set, 0 = the batch size, -1 = about square (the largest divisor of
    the count with `grid_prevent_empty_spots`)."""
    n_rows = int(options.get("n_rows"))
    if n_rows > 0:
        rows = n_rows
    elif n_rows == 0:
        rows = batch_size
    elif options.get("grid_prevent_empty_spots"):
        rows = max(1, math.floor(math.sqrt(count)))
        while count % rows:
            rows -= 1
    else:
        rows = round(math.sqrt(count))
    return max(1, min(rows, count))


def wanted(options: Any, p: Any, count: int) -> bool:
    if count == 0 or p.do_not_save_grid:
        return False
    if count < 2 and options.get("grid_only_if_multiple"):
        return False
    return bool(options.get("return_grid") or options.get("grid_save"))


def make_batch_grid(options: Any, p: Any, result: GenerationResult) -> tuple[Image.Image, str] | None:
    """(grid, infotext) for the result's images, or None when no grid is wanted."""
    pictures = result.images[result.index_of_first_image:]
    if not wanted(options, p, len(pictures)):
        return None
    grid = image_utils.make_grid(pictures, rows=grid_rows(options, len(pictures), p.batch_size))
    text = result.infotexts[result.index_of_first_image] if result.infotexts else ""
    return grid, text


def with_grid(result: GenerationResult, grid: Image.Image, infotext: str) -> GenerationResult:
    """The result with the grid as its first image (A1111 `return_grid`)."""
    info = dict(result.info, infotexts=[infotext, *result.infotexts], index_of_first_image=1)
    return dataclasses.replace(result, images=[grid, *result.images], infotexts=[infotext, *result.infotexts],
                               info=info, index_of_first_image=1)
