"""Built-in selectable script "Prompts from file or textbox", A1111 semantics.

One generation per non-empty line. A line containing "--" is parsed like a command line
(`--prompt "a cat" --steps 10 --seed 5`); `--prompt` / `--negative_prompt` take every word up to the next option.
A line that does not parse is used as a plain prompt (A1111 logs and does the same). When the request has a prompt,
the line's prompt is put before it ("start") or after it ("end"), joined by a space.
Args (A1111 order): iterate seed every line, use same random seed for all lines, prompt position ("start"/"end"),
the text. The images of all lines are returned in order with their own infotexts (no grid).
Deviations: an unknown sampler or checkpoint on a line is a 422 naming the line (A1111: assertion error, 500), and
line values are range-checked like request fields.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import random
import shlex
from collections.abc import Callable, Iterator
from typing import Any

from modules import processing, scripts, shared
from modules.engine import samplers
from modules.errors import InvalidRequestError

logger = logging.getLogger(__name__)


def _bool(tag: str) -> bool:
    return tag == "true"


TAGS: dict[str, Callable[[str], Any]] = {
    "sd_model": str, "outpath_samples": str, "outpath_grids": str, "prompt_for_display": str, "prompt": str,
    "negative_prompt": str, "styles": str, "seed": int, "subseed_strength": float, "subseed": int,
    "seed_resize_from_h": int, "seed_resize_from_w": int, "sampler_index": int, "sampler_name": str,
    "batch_size": int, "n_iter": int, "steps": int, "cfg_scale": float, "width": int, "height": int,
    "restore_faces": _bool, "tiling": _bool, "do_not_save_samples": _bool, "do_not_save_grid": _bool,
}
RANGES: dict[str, tuple[float, float]] = {"steps": (1, 150), "width": (8, 2048), "height": (8, 2048),
                                          "batch_size": (1, 16), "n_iter": (1, 64), "cfg_scale": (0, 100),
                                          "subseed_strength": (0, 1)}


def cmdargs(line: str) -> dict[str, Any]:
    """A1111's `cmdargs`: `--tag value` pairs; ValueError for anything it cannot read."""
    args = shlex.split(line)
    pos, res = 0, {}
    while pos < len(args):
        arg = args[pos]
        if not arg.startswith("--"):
            raise ValueError(f'must start with "--": {arg}')
        if pos + 1 >= len(args):
            raise ValueError(f"missing argument for command line option {arg}")
        tag = arg[2:]
        if tag in ("prompt", "negative_prompt"):
            pos += 1
            words = [args[pos]]
            pos += 1
            while pos < len(args) and not args[pos].startswith("--"):
                words.append(args[pos])
                pos += 1
            res[tag] = " ".join(words)
            continue
        func = TAGS.get(tag)
        if func is None:
            raise ValueError(f"unknown commandline option: {arg}")
        res[tag] = func(args[pos + 1])
        pos += 2
    return res


def parse_line(line: str) -> dict[str, Any]:
    if "--" not in line:
        return {"prompt": line}
    try:
        return cmdargs(line)
    except ValueError as e:
        logger.warning("Error parsing line %r as commandline (%s); using it as a prompt", line, e)
        return {"prompt": line}


def _apply(pc: Any, args: dict[str, Any], line_no: int) -> None:
    field = f"script_args (line {line_no})"
    for key, value in args.items():
        low, high = RANGES.get(key, (None, None))
        if low is not None and not low <= value <= high:
            raise InvalidRequestError(f"{field}: {key} must be between {low} and {high}, got {value}", field="script_args")
        if key == "sd_model":
            pc.sd_model_checkpoint = shared.services.checkpoints.get(value, field="script_args").title
        elif key == "sampler_name":
            pc.sampler_name = samplers.resolve(value, None, field_name="script_args")[0].name
        elif key == "sampler_index":
            names = samplers.sampler_names()
            if not 0 <= value < len(names):
                raise InvalidRequestError(f"{field}: sampler_index must be below {len(names)}", field="script_args")
            pc.sampler_name = names[value]
        elif key == "styles":
            pc.styles = [s.strip() for s in value.split(",") if s.strip()]
        elif key in ("width", "height"):
            setattr(pc, key, value - value % 8)
        else:
            setattr(pc, key, value)


class Script(scripts.Script):
    def title(self) -> str:
        return "Prompts from file or textbox"

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        checkbox_iterate = gr.Checkbox(label="Iterate seed every line", value=False,
                                       elem_id=self.elem_id("checkbox_iterate"))
        checkbox_iterate_batch = gr.Checkbox(label="Use same random seed for all lines", value=False,
                                             elem_id=self.elem_id("checkbox_iterate_batch"))
        prompt_position = gr.Radio(["start", "end"], label="Insert prompts at the", value="start",
                                   elem_id=self.elem_id("prompt_position"))
        prompt_txt = gr.Textbox(label="List of prompt inputs", lines=1, elem_id=self.elem_id("prompt_txt"))
        return [checkbox_iterate, checkbox_iterate_batch, prompt_position, prompt_txt]

    @staticmethod
    def _cells(p: Any, checkbox_iterate: Any, prompt_position: Any, prompt_txt: Any) -> Iterator[Any]:
        """One copy of `p` per line, the line's values applied (what `plan` shows and `run` generates)."""
        lines = [x for x in (x.strip() for x in str(prompt_txt or "").splitlines()) if x]
        if not lines:
            raise InvalidRequestError("Prompts from file or textbox: the prompt list is empty", field="script_args")
        seed = p.seed
        for line_no, line in enumerate(lines, start=1):
            args = parse_line(line)
            pc = copy.copy(p)
            pc.seed = seed
            pc.override_settings = dict(p.override_settings)
            pc.extra_generation_params = dict(p.extra_generation_params)
            pc.styles = list(p.styles)
            _apply(pc, args, line_no)
            if args.get("prompt") and p.prompt:
                pc.prompt = (f"{args['prompt']} {p.prompt}" if prompt_position == "start"
                             else f"{p.prompt} {args['prompt']}")
            if args.get("negative_prompt") and p.negative_prompt:
                pc.negative_prompt = (f"{args['negative_prompt']} {p.negative_prompt}" if prompt_position == "start"
                                      else f"{p.negative_prompt} {args['negative_prompt']}")
            yield pc
            if checkbox_iterate and seed not in (None, -1, ""):
                seed = seed + p.batch_size * p.n_iter

    def plan(self, p: Any, checkbox_iterate: Any, checkbox_iterate_batch: Any, prompt_position: Any,
             prompt_txt: Any) -> Iterator[Any]:
        return self._cells(p, checkbox_iterate, prompt_position, prompt_txt)

    def run(self, p: Any, checkbox_iterate: Any, checkbox_iterate_batch: Any, prompt_position: Any,
            prompt_txt: Any) -> Any:
        lines = [x for x in (x.strip() for x in str(prompt_txt or "").splitlines()) if x]
        per_iter = 2 if p.enable_hr and not p.is_img2img else 1  # a hires pass is a job too
        total = sum(int(parse_line(line).get("n_iter", p.n_iter)) for line in lines) * per_iter
        if (checkbox_iterate or checkbox_iterate_batch) and p.seed in (None, -1, ""):
            p.seed = random.randrange(4294967294)

        results = []
        done = 0
        for pc in self._cells(p, checkbox_iterate, prompt_position, prompt_txt):
            if shared.state.interrupted:
                break  # cancelled: the remaining lines are not generated
            pc.job_offset, pc.job_total = done, total
            done += pc.n_iter * per_iter
            results.append(processing.process_images(pc))
        if not any(r.images for r in results):
            return results[0] if results else processing.process_images(p)

        first = results[0]
        infotexts = [t for r in results for t in r.infotexts]
        info = dict(first.info, infotexts=infotexts,
                    all_prompts=[t for r in results for t in r.info["all_prompts"]],
                    all_negative_prompts=[t for r in results for t in r.info["all_negative_prompts"]],
                    all_seeds=[s for r in results for s in r.seeds],
                    all_subseeds=[s for r in results for s in r.subseeds])
        return dataclasses.replace(first, images=[img for r in results for img in r.images], infotexts=infotexts,
                                   info=info, seeds=info["all_seeds"], subseeds=info["all_subseeds"],
                                   interrupted=any(r.interrupted for r in results))
