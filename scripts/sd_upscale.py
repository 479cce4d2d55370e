"""Built-in selectable script "SD upscale" (img2img only), A1111 semantics.

Args (A1111 order): info html (ignored), tile overlap in pixels, upscaler (name, case-insensitive, or index into
GET /sdapi/v1/upscalers), scale factor. The init image is upscaled with that upscaler ("None": not resized), split
into overlapping tiles of p.width x p.height, each tile goes through img2img (seed, seed+1, ... per batch as in
A1111) and the tiles are blended back over the overlap. n_iter gives that many upscales (seed + n). The result's
infotexts are the first tile's infotext, which carries "SD upscale overlap" and "SD upscale upscaler".
"""
from __future__ import annotations

import copy
import dataclasses
import math
import random
from typing import Any

from PIL import Image

from modules import processing, scripts, upscalers
from modules.errors import InvalidRequestError
from modules.images import combine_grid, split_grid


def find_upscaler(value: Any) -> str:
    """An upscaler name from a name (case-insensitive) or an index into the upscaler list, as A1111 accepts."""
    names = [u.name for u in upscalers.list_upscalers()]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidRequestError(f"SD upscale: invalid upscaler {value!r}; valid: {', '.join(names)}",
                                  field="script_args")
    if isinstance(value, (int, float)) and 0 <= int(value) < len(names):
        return names[int(value)]
    if isinstance(value, str):
        match = next((n for n in names if n.lower() == value.lower()), None)
        if match is not None:
            return match
    raise InvalidRequestError(f"SD upscale: unknown upscaler {value!r}; valid: {', '.join(names)}", field="script_args")


class Script(scripts.Script):
    def title(self) -> str:
        return "SD upscale"

    def show(self, is_img2img: bool) -> bool:
        return is_img2img

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        names = [u.name for u in upscalers.list_upscalers()]
        info = gr.HTML("<p>Will upscale the image by the selected scale factor; use width and height sliders to set "
                       "tile size</p>")
        overlap = gr.Slider(minimum=0, maximum=256, step=16, label="Tile overlap", value=64,
                            elem_id=self.elem_id("overlap"))
        scale_factor = gr.Slider(minimum=1.0, maximum=4.0, step=0.05, label="Scale Factor", value=2.0,
                                 elem_id=self.elem_id("scale_factor"))
        upscaler_index = gr.Radio(label="Upscaler", choices=names, value=names[0], type="index",
                                  elem_id=self.elem_id("upscaler_index"))
        return [info, overlap, upscaler_index, scale_factor]

    def run(self, p: Any, _info: Any, overlap: Any, upscaler_index: Any, scale_factor: Any) -> Any:
        if not p.init_images:
            raise InvalidRequestError("SD upscale needs an init image", field="init_images")
        name = find_upscaler(upscaler_index)
        scale = float(scale_factor)
        if not 1.0 <= scale <= 8.0:
            raise InvalidRequestError(f"SD upscale: scale factor must be between 1 and 8, got {scale}",
                                      field="script_args")
        overlap = max(0, min(int(overlap), min(p.width, p.height) // 2))
        seed = int(p.seed) if p.seed not in (None, -1, "") else random.randrange(4294967294)
        p.extra_generation_params["SD upscale overlap"] = overlap
        p.extra_generation_params["SD upscale upscaler"] = name

        image = p.init_images[0].convert("RGB")
        if name != "None":
            image = upscalers.upscale(image, scale, name, field="script_args")
        if image.width < p.width or image.height < p.height:
            image = image.resize((max(image.width, p.width), max(image.height, p.height)), Image.Resampling.LANCZOS)
        grid = split_grid(image, p.width, p.height, overlap)
        work = [tile[2] for _y, _h, row in grid.tiles for tile in row]
        batch_size, upscale_count = p.batch_size, p.n_iter
        batch_count = math.ceil(len(work) / batch_size)
        total_jobs = batch_count * upscale_count

        first = None
        results: list[Image.Image] = []
        for n in range(upscale_count):
            next_seed = seed + n
            tiles_out: list[Image.Image] = []
            for i in range(batch_count):
                pc = copy.copy(p)
                pc.n_iter, pc.seed = 1, next_seed
                pc.init_images = work[i * batch_size:(i + 1) * batch_size]
                pc.batch_size = len(pc.init_images)
                pc.mask = None
                pc.extra_generation_params = dict(p.extra_generation_params)
                pc.job_offset, pc.job_total = n * batch_count + i, total_jobs
                pc.all_seeds, pc.all_subseeds, pc.all_prompts, pc.all_negative_prompts = [], [], [], []
                processed = processing.process_images(pc)
                first = first or processed
                next_seed = processed.seeds[0] + 1 if processed.seeds else next_seed + 1
                tiles_out += processed.images
            k = 0
            for _y, _h, row in grid.tiles:
                for tile in row:
                    tile[2] = tiles_out[k] if k < len(tiles_out) else Image.new("RGB", (p.width, p.height))
                    k += 1
            results.append(combine_grid(grid))
        assert first is not None
        infotexts = [first.infotexts[0]] * len(results)
        info = dict(first.info, infotexts=infotexts, seed=seed, all_seeds=[seed + n for n in range(len(results))])
        return dataclasses.replace(first, images=results, infotexts=infotexts, info=info,
                                   seeds=info["all_seeds"], subseeds=first.subseeds[:len(results)])
