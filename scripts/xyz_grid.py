"""Built-in selectable script "X/Y/Z plot", A1111 1.10 semantics and argument layout.

Args (19, A1111 order): x_type, x_values, x_values_dropdown, y_type, y_values, y_values_dropdown, z_type, z_values,
z_values_dropdown, draw_legend, include_lone_images, include_sub_grids, no_fixed_seeds, vary_seeds_x, vary_seeds_y,
vary_seeds_z, margin_size, csv_mode, draw_grid. An axis type is an index into this tab's axis list (A1111's list and
order, see AXES) or its label. Values are a CSV list; int axes accept `1-5`, `1-10 (+2)`, `10-1 (-3)` and `1-10 [5]`
(5 evenly spaced values); float axes the same with decimals. Axes with choices (Sampler, Checkpoint name, ...) read
the `*_values_dropdown` list unless csv_mode, as A1111 does; Easel falls back to the text values when that list is empty.
Every cell is a `copy.copy(p)` with the axis values applied, generated with `process_images`. Response (A1111): with
draw_grid, images[0] is the grid (one sub-grid per Z value, rows = Y values, side by side) whose infotext adds
"Script: X/Y/Z plot, X Type, X Values, ..." (and "Fixed X Values" for seed axes); include_sub_grids adds the
per-Z grids, include_lone_images adds every cell's image. With draw_legend the grid has A1111's legend (X values above
the columns, Y values left of the rows, Z values above each sub-grid; "Label: value" for numbers, the value for names)
and margin_size pixels between cells. Axes Easel cannot honour (e.g. "Refiner checkpoint", "FP8 mode") answer 422 naming the axis.
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import itertools
import math
import random
import re
from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any

import numpy as np
from PIL import Image

from modules import images, infotext, processing, scripts, shared
from modules.engine import hires, samplers
from modules.errors import InvalidRequestError

Apply = Callable[[Any, Any, list], None]


@dataclasses.dataclass
class Axis:
    label: str
    type: Any  # int, float, str or "perm"
    apply: Apply | None  # None: not supported by Easel
    img2img: bool | None = None  # None: both tabs
    has_choices: bool = False
    cost: float = 0.0
    override: str | None = None  # option key for override-style axes


def _field(name: str) -> Apply:
    return lambda p, x, xs: setattr(p, name, x)


def _sampler(name: str) -> Apply:
    return lambda p, x, xs: setattr(p, name, samplers.resolve(x, None, field_name="script_args")[0].name)


def _prompt_sr(p: Any, x: str, xs: list) -> None:
    if xs[0] not in p.prompt and xs[0] not in p.negative_prompt:
        raise InvalidRequestError(f"Prompt S/R did not find {xs[0]} in prompt or negative prompt.", field="script_args")
    p.prompt = p.prompt.replace(xs[0], x)
    p.negative_prompt = p.negative_prompt.replace(xs[0], x)


def _prompt_order(p: Any, x: tuple, xs: list) -> None:
    order = sorted((p.prompt.find(token), token) for token in x)
    parts, rest = [], p.prompt
    for _, token in order:
        n = rest.find(token)
        parts.append(rest[:n])
        rest = rest[n + len(token):]
    p.prompt = "".join(part + x[i] for i, part in enumerate(parts)) + rest


def _checkpoint(p: Any, x: str, xs: list) -> None:
    p.sd_model_checkpoint = shared.services.checkpoints.get(x, field="script_args").title


def _schedule(p: Any, x: str, xs: list) -> None:
    p.scheduler = samplers.find_schedule(x, field_name="script_args").label


def _hr_upscaler(p: Any, x: str, xs: list) -> None:
    if x not in hires.upscaler_names():
        raise InvalidRequestError(f"X/Y/Z plot: unknown upscaler {x!r}; valid: {', '.join(hires.upscaler_names())}",
                                  field="script_args")
    p.hr_upscaler = x


def _size(p: Any, x: str, xs: list) -> None:
    w, _, h = x.partition("x")
    p.width, p.height = int(w.strip()) // 8 * 8, int(h.strip()) // 8 * 8


def _styles(p: Any, x: str, xs: list) -> None:
    p.styles = [*p.styles, *x.split(",")]


def _face_restore(p: Any, x: str, xs: list) -> None:
    p.restore_faces = x.lower() in ("true", "yes", "y", "1", "codeformer", "gfpgan")


def _override(key: str, boolean: bool = False) -> Apply:
    def apply(p: Any, x: Any, xs: list) -> None:
        p.override_settings[key] = (str(x).lower() == "true") if boolean else x
    return apply


def _ov(label: str, type_: Any, key: str, boolean: bool = False, choices: bool = False, cost: float = 0.0) -> Axis:
    return Axis(label, type_, _override(key, boolean), has_choices=choices, cost=cost, override=key)


AXES: list[Axis] = [
    Axis("Nothing", str, lambda p, x, xs: None), Axis("Seed", int, _field("seed")),
    Axis("Var. seed", int, _field("subseed")), Axis("Var. strength", float, _field("subseed_strength")),
    Axis("Steps", int, _field("steps")), Axis("Hires steps", int, _field("hr_second_pass_steps"), img2img=False),
    Axis("CFG Scale", float, _field("cfg_scale")),
    Axis("Image CFG Scale", float, _field("image_cfg_scale"), img2img=True),
    Axis("Prompt S/R", str, _prompt_sr), Axis("Prompt order", "perm", _prompt_order),
    Axis("Sampler", str, _sampler("sampler_name"), img2img=False, has_choices=True),
    Axis("Hires sampler", str, _sampler("hr_sampler_name"), img2img=False, has_choices=True),
    Axis("Sampler", str, _sampler("sampler_name"), img2img=True, has_choices=True),
    Axis("Checkpoint name", str, _checkpoint, has_choices=True, cost=1.0),
    Axis("Negative Guidance minimum sigma", float, _field("s_min_uncond")),
    Axis("Sigma Churn", float, _field("s_churn")), Axis("Sigma min", float, _field("s_tmin")),
    Axis("Sigma max", float, _field("s_tmax")), Axis("Sigma noise", float, _field("s_noise")),
    Axis("Schedule type", str, _schedule, has_choices=True),
    _ov("Schedule min sigma", float, "sigma_min"), _ov("Schedule max sigma", float, "sigma_max"),
    _ov("Schedule rho", float, "rho"), _ov("Skip Early CFG", float, "skip_early_cond"),
    _ov("Beta schedule alpha", float, "beta_dist_alpha"), _ov("Beta schedule beta", float, "beta_dist_beta"),
    Axis("Eta", float, _field("eta")), _ov("Clip skip", int, "CLIP_stop_at_last_layers"),
    Axis("Denoising", float, _field("denoising_strength")),
    Axis("Initial noise multiplier", float, _field("initial_noise_multiplier")),
    _ov("Extra noise", float, "img2img_extra_noise"),
    Axis("Hires upscaler", str, _hr_upscaler, img2img=False, has_choices=True),
    Axis("Cond. Image Mask Weight", float, None, img2img=True),
    _ov("VAE", str, "sd_vae", choices=True, cost=0.7), Axis("Styles", str, _styles, has_choices=True),
    _ov("UniPC Order", int, "uni_pc_order", cost=0.5), Axis("Face restore", str, _face_restore),
    _ov("Token merging ratio", float, "token_merging_ratio"),
    _ov("Token merging ratio high-res", float, "token_merging_ratio_hr"),
    _ov("Always discard next-to-last sigma", str, "always_discard_next_to_last_sigma", True, True),
    _ov("SGM noise multiplier", str, "sgm_noise_multiplier", True, True),
    Axis("Refiner checkpoint", str, None, has_choices=True, cost=1.0), Axis("Refiner switch at", float, None),
    _ov("RNG source", str, "randn_source", choices=True), _ov("FP8 mode", str, "fp8_storage", choices=True, cost=0.9),
    Axis("Size", str, _size),
]
SEED_AXES = ("Seed", "Var. seed")
MAX_AXIS_VALUES = 1024  # a sanity bound while parsing; the image cap (modules/generation/costs.py) is the real one

RE_RANGE = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\(([+-]\d+)\s*\))?\s*")
RE_RANGE_FLOAT = re.compile(r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\(([+-]\d+(?:.\d*)?)\s*\))?\s*")
RE_RANGE_COUNT = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\[(\d+)\s*])?\s*")
RE_RANGE_COUNT_FLOAT = re.compile(r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\[(\d+(?:.\d*)?)\s*])?\s*")


def axes_for(is_img2img: bool) -> list[Axis]:
    return [a for a in AXES if a.img2img is None or a.img2img == is_img2img]


def csv_list(text: str) -> list[str]:
    """A1111 `csv_string_to_list_strip`."""
    return [v.strip() for v in itertools.chain.from_iterable(csv.reader(StringIO(text or ""), skipinitialspace=True))]


def _num(text: str) -> str:
    return text.replace(" ", "")


def _room(axis: Axis, out: list, count: float) -> None:
    """Refuse a value list that would grow past MAX_AXIS_VALUES (checked before a range is expanded)."""
    if not math.isfinite(count) or len(out) + count > MAX_AXIS_VALUES:
        raise InvalidRequestError(f"script_args: X/Y/Z plot: the {axis.label} axis has more than {MAX_AXIS_VALUES} "
                                  "values",
                                  field="script_args")


def parse_values(axis: Axis, text: str, dropdown: list | None = None, csv_mode: bool = False) -> list[Any]:
    """A1111's `process_axis` value parsing, ranges included; InvalidRequestError for a value of the wrong type
    and for an axis of more than MAX_AXIS_VALUES values (counted before a range is expanded)."""
    if axis.label == "Nothing":
        return [0]
    values = list(dropdown) if axis.has_choices and not csv_mode and dropdown else csv_list(text)
    out: list[Any] = []
    try:
        for val in values:
            if axis.type in (int, float) and str(val).strip() == "":
                continue
            if axis.type is int and (m := RE_RANGE.fullmatch(val)) is not None:
                span = range(int(_num(m[1])), int(_num(m[2])) + 1, int(m[3]) if m[3] else 1)
                _room(axis, out, len(span))
                out += list(span)
            elif axis.type is int and (m := RE_RANGE_COUNT.fullmatch(val)) is not None:
                num = int(m[3]) if m[3] else 1
                _room(axis, out, num)
                out += [int(x) for x in np.linspace(int(_num(m[1])), int(_num(m[2])), num).tolist()]
            elif axis.type is float and (m := RE_RANGE_FLOAT.fullmatch(val)) is not None:
                start, stop = float(_num(m[1])), float(_num(m[2]))
                step = float(m[3]) if m[3] else 1.0
                _room(axis, out, (stop + step - start) / step if step else math.inf)
                out += np.arange(start, stop + step, step).tolist()
            elif axis.type is float and (m := RE_RANGE_COUNT_FLOAT.fullmatch(val)) is not None:
                num = int(float(m[3])) if m[3] else 1
                _room(axis, out, num)
                out += np.linspace(float(_num(m[1])), float(_num(m[2])), num).tolist()
            else:
                _room(axis, out, 1)
                out.append(val)
        if axis.type == "perm":
            _room(axis, [], math.factorial(min(len(out), 20)))
            return list(itertools.permutations(out))
        values = [axis.type(x) for x in out]
    except (ValueError, OverflowError) as e:
        raise InvalidRequestError(f"X/Y/Z plot: bad {axis.label} values {text!r}: {e}", field="script_args") from e
    if axis.type is float and not all(math.isfinite(v) for v in values):
        raise InvalidRequestError(f"script_args: X/Y/Z plot: {axis.label} values must be finite numbers",
                                  field="script_args")
    return values


def find_axis(value: Any, is_img2img: bool) -> Axis:
    axes = axes_for(is_img2img)
    if value in (None, ""):
        return axes[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= int(value) < len(axes):
        return axes[int(value)]
    if isinstance(value, str):
        match = next((a for a in axes if a.label.lower() == value.strip().lower()), None)
        if match is not None:
            return match
    raise InvalidRequestError(f"X/Y/Z plot: unknown axis type {value!r}; valid: indexes 0-{len(axes) - 1} or "
                              f"{', '.join(a.label for a in axes)}", field="script_args")


def _check_supported(axis: Axis) -> None:
    if axis.apply is None or (axis.override is not None and axis.override not in shared.opts.table):
        raise InvalidRequestError(f"X/Y/Z plot: the {axis.label!r} axis is not supported by Easel", field="script_args")


def grid_infotext(text: str, extra: dict[str, Any]) -> str:
    """`text` with `extra` params inserted before "Version" (A1111 puts extra_generation_params there)."""
    head, _, params = text.rpartition("\n")
    added = infotext.build_params_line(extra)
    at = params.find(", Version: ")
    params = f"{params[:at]}, {added}{params[at:]}" if at >= 0 else f"{params}, {added}"
    return f"{head}\n{params}" if head else params


def format_value(axis: Axis, value: Any) -> str:
    """A legend label, as A1111's axes format them: "Steps: 20" for numbers, the value itself for names."""
    if axis.label == "Nothing":
        return ""
    if axis.type == "perm":
        return ", ".join(map(str, value))
    if axis.has_choices or axis.type is str:
        return str(value)
    return f"{axis.label}: {value}"


def clamp_margin(value: Any) -> int:
    try:
        return min(max(int(value or 0), 0), 500)
    except (TypeError, ValueError):
        return 0


@dataclasses.dataclass
class Legend:
    """A1111's `draw_legend` and `margin_size`: X labels above the columns and Y labels left of the rows of each
    sub-grid, Z labels above the sub-grids."""

    draw: bool
    margin: int

    def cells(self, grid: Image.Image, size: tuple[int, int], axes: list) -> Image.Image:
        (x_axis, xs), (y_axis, ys), _ = axes
        if not self.draw and not self.margin:
            return grid
        hor = [[images.GridAnnotation(format_value(x_axis, x) if self.draw else "")] for x in xs]
        ver = [[images.GridAnnotation(format_value(y_axis, y) if self.draw else "")] for y in ys]
        return images.draw_grid_annotations(grid, size[0], size[1], hor, ver, self.margin)

    def sheets(self, subs: list[Image.Image], axes: list) -> Image.Image:
        _, _, (z_axis, zs) = axes
        joined = images.make_grid(subs, rows=1)
        if not self.draw:
            return joined
        titles = [[images.GridAnnotation(format_value(z_axis, z))] for z in zs]
        return images.draw_grid_annotations(joined, subs[0].width, subs[0].height, titles,
                                            [[images.GridAnnotation()]])


class Script(scripts.Script):
    def title(self) -> str:
        return "X/Y/Z plot"

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        labels = [a.label for a in axes_for(is_img2img)]
        controls = []
        for axis, default in (("x", labels[1]), ("y", labels[0]), ("z", labels[0])):
            controls += [gr.Dropdown(label=f"{axis.upper()} type", choices=labels, value=default, type="index",
                                     elem_id=self.elem_id(f"{axis}_type")),
                         gr.Textbox(label=f"{axis.upper()} values", lines=1, elem_id=self.elem_id(f"{axis}_values")),
                         gr.Dropdown(label=f"{axis.upper()} values", visible=False, multiselect=True, choices=[],
                                     value=[], interactive=True)]
        for label, elem, value in (("Draw legend", "draw_legend", True), ("Include Sub Images", "include_lone_images",
                                   False), ("Include Sub Grids", "include_sub_grids", False),
                                   ("Keep -1 for seeds", "no_fixed_seeds", False), ("Vary seeds for X", "vary_seeds_x",
                                   False), ("Vary seeds for Y", "vary_seeds_y", False),
                                   ("Vary seeds for Z", "vary_seeds_z", False)):
            controls.append(gr.Checkbox(label=label, value=value, elem_id=self.elem_id(elem)))
        controls.append(gr.Slider(label="Grid margins (px)", minimum=0, maximum=500, value=0, step=2,
                                  elem_id=self.elem_id("margin_size")))
        controls.append(gr.Checkbox(label="Use text inputs instead of dropdowns", value=False,
                                    elem_id=self.elem_id("csv_mode")))
        controls.append(gr.Checkbox(label="Draw grid", value=True, elem_id=self.elem_id("draw_grid")))
        return controls

    def _axes(self, p: Any, x_type: Any, x_values: Any, x_values_dropdown: Any, y_type: Any, y_values: Any,
              y_values_dropdown: Any, z_type: Any, z_values: Any, z_values_dropdown: Any, no_fixed_seeds: Any,
              csv_mode: Any) -> tuple[list[tuple[Axis, list[Any]]], list[str]]:
        """The three axes with their parsed (and checked) values, and the values as the infotext shows them."""
        axes, texts = [], []
        for kind, dropdown, text in ((x_type, x_values_dropdown, x_values), (y_type, y_values_dropdown, y_values),
                                     (z_type, z_values_dropdown, z_values)):
            axis = find_axis(kind, p.is_img2img)
            _check_supported(axis)
            values = parse_values(axis, str(text or ""), dropdown, bool(csv_mode))
            if not no_fixed_seeds and axis.label in SEED_AXES:
                values = [random.randrange(4294967294) if v in (None, "", -1) else v for v in values]
            if not values:
                raise InvalidRequestError(f"X/Y/Z plot: no values for the {axis.label!r} axis", field="script_args")
            if axis.label == "Checkpoint name":
                for v in values:
                    shared.services.checkpoints.get(v, field="script_args")
            axes.append((axis, values))
            texts.append(str(text) if text or not dropdown else ", ".join(map(str, dropdown)))
        return axes, texts

    @staticmethod
    def _cells(p: Any, axes: list[tuple[Axis, list[Any]]], vary: tuple[Any, Any, Any]) -> Iterator[tuple[int, Any]]:
        """(cell index, copy of `p` with the axis values applied), costliest axis outermost (A1111's order)."""
        (_, xs), (_, ys), (_, zs) = axes
        vary_x, vary_y, vary_z = vary
        order = sorted((2, 1, 0), key=lambda i: -axes[i][0].cost)
        ranges = [range(len(xs)), range(len(ys)), range(len(zs))]
        for outer in itertools.product(*(ranges[i] for i in order)):
            ix, iy, iz = (outer[order.index(k)] for k in range(3))
            pc = copy.copy(p)
            pc.styles, pc.override_settings = list(p.styles), dict(p.override_settings)
            pc.extra_generation_params = dict(p.extra_generation_params)
            for (axis, values), i in zip(axes, (ix, iy, iz)):
                axis.apply(pc, values[i], values)
            xdim, ydim = (len(xs) if vary_x else 1), (len(ys) if vary_y else 1)
            if vary_x or vary_y or vary_z:
                pc.seed = (int(pc.seed) + (ix if vary_x else 0) + (iy * xdim if vary_y else 0)
                           + (iz * xdim * ydim if vary_z else 0))
            yield ix + iy * len(xs) + iz * len(xs) * len(ys), pc

    def plan(self, p: Any, x_type: Any, x_values: Any, x_values_dropdown: Any, y_type: Any, y_values: Any,
             y_values_dropdown: Any, z_type: Any, z_values: Any, z_values_dropdown: Any, draw_legend: Any = True,
             include_lone_images: Any = False, include_sub_grids: Any = False, no_fixed_seeds: Any = False,
             vary_seeds_x: Any = False, vary_seeds_y: Any = False, vary_seeds_z: Any = False, margin_size: Any = 0,
             csv_mode: Any = False, draw_grid: Any = True) -> Iterator[Any]:
        axes, _ = self._axes(p, x_type, x_values, x_values_dropdown, y_type, y_values, y_values_dropdown, z_type,
                             z_values, z_values_dropdown, no_fixed_seeds, csv_mode)
        return (pc for _, pc in self._cells(p, axes, (vary_seeds_x, vary_seeds_y, vary_seeds_z)))

    def run(self, p: Any, x_type: Any, x_values: Any, x_values_dropdown: Any, y_type: Any, y_values: Any,
            y_values_dropdown: Any, z_type: Any, z_values: Any, z_values_dropdown: Any, draw_legend: Any = True,
            include_lone_images: Any = False, include_sub_grids: Any = False, no_fixed_seeds: Any = False,
            vary_seeds_x: Any = False, vary_seeds_y: Any = False, vary_seeds_z: Any = False, margin_size: Any = 0,
            csv_mode: Any = False, draw_grid: Any = True) -> Any:
        if not no_fixed_seeds and p.seed in (None, -1, ""):
            p.seed = random.randrange(4294967294)
        axes, texts = self._axes(p, x_type, x_values, x_values_dropdown, y_type, y_values, y_values_dropdown,
                                 z_type, z_values, z_values_dropdown, no_fixed_seeds, csv_mode)
        (_, xs), (_, ys), (_, zs) = axes
        count = len(xs) * len(ys) * len(zs)
        cells: list[Any] = [None] * count
        per_cell = p.n_iter * (2 if p.enable_hr and not p.is_img2img else 1)  # a hires pass is a job too
        for done, (index, pc) in enumerate(self._cells(p, axes, (vary_seeds_x, vary_seeds_y, vary_seeds_z))):
            if shared.state.interrupted:
                break  # cancelled: the remaining cells are not generated
            pc.job_offset, pc.job_total = done * per_cell, count * per_cell
            cells[index] = processing.process_images(pc)
        if not any(c is not None and c.images for c in cells):
            return next((c for c in cells if c is not None), None) or processing.process_images(p)
        legend = Legend(bool(draw_legend), clamp_margin(margin_size))
        return self._result(p, cells, axes, texts, bool(draw_grid), bool(include_lone_images),
                            bool(include_sub_grids), bool(no_fixed_seeds), legend)

    def _result(self, p: Any, cells: list[Any], axes: list, texts: list[str], draw_grid: bool, lone: bool,
                sub_grids: bool, no_fixed_seeds: bool, legend: Legend | None = None) -> Any:
        first = next(c for c in cells if c is not None and c.images)
        size = first.images[0].size
        imgs = [c.images[0] if c is not None and c.images else Image.new("RGB", size) for c in cells]
        texts_cells = [c.infotexts[0] if c is not None and c.images else "" for c in cells]
        (_, xs), (_, ys), (_, zs) = axes
        extra: dict[str, Any] = {"Script": self.title()}
        for name, (axis, values), text in zip("XYZ", axes, texts):
            if axis.label == "Nothing":
                continue
            extra[f"{name} Type"] = axis.label
            extra[f"{name} Values"] = text
            if axis.label in SEED_AXES and not no_fixed_seeds:
                extra[f"Fixed {name} Values"] = ", ".join(str(v) for v in values)
        out_images, out_texts = [], []
        if draw_grid:
            block = len(xs) * len(ys)
            legend = legend or Legend(False, 0)
            subs = [legend.cells(images.make_grid(imgs[i * block:(i + 1) * block], rows=len(ys)), size, axes)
                    for i in range(len(zs))]
            out_images.append(legend.sheets(subs, axes) if len(subs) > 1 else subs[0])
            out_texts.append(grid_infotext(texts_cells[0], extra))
            if sub_grids and len(subs) > 1:
                zless = {k: v for k, v in extra.items() if not k.startswith(("Z ", "Fixed Z"))}
                out_images += subs
                out_texts += [grid_infotext(texts_cells[i * block], zless) for i in range(len(zs))]
        if lone:
            out_images += imgs
            out_texts += texts_cells
        seeds = [c.seeds[0] if c is not None and c.seeds else p.seed for c in cells]
        info = dict(first.info, all_prompts=[c.info["all_prompts"][0] if c else "" for c in cells],
                    all_seeds=seeds, infotexts=out_texts, index_of_first_image=1 if draw_grid else 0,
                    extra_generation_params={**first.info.get("extra_generation_params", {}), **extra})
        return dataclasses.replace(first, images=out_images, infotexts=out_texts, info=info, seeds=seeds,
                                   index_of_first_image=1 if draw_grid else 0,
                                   interrupted=any(c is None or c.interrupted for c in cells))
