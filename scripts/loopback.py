"""Built-in selectable script "Loopback" (img2img only), A1111 1.10 semantics.

Args (A1111 order): loops, final denoising strength, denoising strength curve ("Aggressive", "Linear", "Lazy"),
append interrogated prompt ("None"; "CLIP" and "DeepBooru" need an interrogator, which Easel does not ship: 422).
Each loop feeds its output back as the next init image, seed + 1 each time, the denoising strength moving from the
request's towards the final one along the curve; masked content becomes "original" after the first loop.
n_iter repeats the whole loop from the original image; batch_size is 1. Answer: a one-row grid of the loops'
results first (when there is more than one and return_grid is on), then the results. The loops count against the
image cap before the request is queued (`plan`).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

from modules import images, processing, script_results, scripts, shared
from modules.errors import InvalidRequestError

CURVES = ("Aggressive", "Linear", "Lazy")
INTERROGATORS = ("None", "CLIP", "DeepBooru")


def _args(p: Any, loops: Any, final_denoising_strength: Any, denoising_curve: Any,
          append_interrogation: Any) -> tuple[int, float, str]:
    if not p.init_images:
        raise InvalidRequestError("Loopback needs an init image", field="init_images")
    try:
        loops, final = int(loops), float(final_denoising_strength)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"Loopback: loops and final denoising strength must be numbers ({exc})",
                                  field="script_args") from exc
    if not 1 <= loops <= 64 or not 0.0 <= final <= 1.0:
        raise InvalidRequestError("Loopback: loops must be 1..64 and the final denoising strength 0..1",
                                  field="script_args")
    if denoising_curve not in CURVES:
        raise InvalidRequestError(f"Loopback: unknown denoising curve {denoising_curve!r}; valid: {', '.join(CURVES)}",
                                  field="script_args")
    if append_interrogation not in INTERROGATORS:
        raise InvalidRequestError(f"Loopback: unknown interrogation {append_interrogation!r}; valid: "
                                  f"{', '.join(INTERROGATORS)}", field="script_args")
    if append_interrogation != "None":
        raise InvalidRequestError(f"Loopback: {append_interrogation} interrogation needs an interrogator model, which "
                                  "Easel does not ship; use \"None\"", field="script_args")
    return loops, final, denoising_curve


def denoising_strength(initial: float, final: float, loops: int, curve: str, loop: int) -> float:
    """A1111's `calculate_denoising_strength`: loop 0 is the request's strength, loop `loops - 1` the final one."""
    if loops == 1:
        return initial
    progress = loop / (loops - 1)
    if curve == "Aggressive":
        shape = math.sin(progress * math.pi * 0.5)
    elif curve == "Lazy":
        shape = 1 - math.cos(progress * math.pi * 0.5)
    else:
        shape = progress
    return initial + (final - initial) * shape


class Script(scripts.Script):
    def title(self) -> str:
        return "Loopback"

    def show(self, is_img2img: bool) -> bool:
        return is_img2img

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        loops = gr.Slider(minimum=1, maximum=32, step=1, label="Loops", value=4, elem_id=self.elem_id("loops"))
        final = gr.Slider(minimum=0, maximum=1, step=0.01, label="Final denoising strength", value=0.5,
                          elem_id=self.elem_id("final_denoising_strength"))
        curve = gr.Dropdown(label="Denoising strength curve", choices=list(CURVES), value="Linear")
        interrogation = gr.Dropdown(label="Append interrogated prompt at each iteration", choices=list(INTERROGATORS),
                                    value="None")
        return [loops, final, curve, interrogation]

    def plan(self, p: Any, loops: Any, final_denoising_strength: Any, denoising_curve: Any,
             append_interrogation: Any = "None") -> Iterator[Any]:
        loops, _final, _curve = _args(p, loops, final_denoising_strength, denoising_curve, append_interrogation)
        for _ in range(p.n_iter * loops):
            cell = copy.copy(p)
            cell.batch_size = cell.n_iter = 1
            yield cell

    def run(self, p: Any, loops: Any, final_denoising_strength: Any, denoising_curve: Any,
            append_interrogation: Any = "None") -> Any:
        loops, final, curve = _args(p, loops, final_denoising_strength, denoising_curve, append_interrogation)
        processing.fix_seed(p)
        save_wanted = not p.do_not_save_samples
        batch_count = p.n_iter
        p.extra_generation_params = {"Final denoising strength": final, "Denoising curve": curve}
        p.batch_size = p.n_iter = 1
        p.do_not_save_grid = p.do_not_save_samples = True
        initial = 0.75 if p.denoising_strength is None else float(p.denoising_strength)
        original_images, original_fill = p.init_images, p.inpainting_fill
        first = None
        history, results = [], []
        for n in range(batch_count):
            p.init_images, p.denoising_strength = original_images, initial
            last = None
            for i in range(loops):
                p.job_offset, p.job_total = n * loops + i, batch_count * loops
                p.all_seeds, p.all_subseeds, p.all_prompts, p.all_negative_prompts = [], [], [], []
                processed = processing.process_images(p)
                if shared.state.interrupted or not processed.images:
                    break
                first = first or processed
                p.seed = processed.seeds[0] + 1
                p.denoising_strength = denoising_strength(initial, final, loops, curve, i + 1)
                if shared.state.skipped:
                    break
                last = processed.images[0]
                p.init_images = [last]
                p.inpainting_fill = 1  # "original" for the next loops
                if batch_count == 1:
                    history.append(last)
                    results.append(last)
            if batch_count > 1 and last is not None and not shared.state.skipped and not shared.state.interrupted:
                history.append(last)
                results.append(last)
            p.inpainting_fill = original_fill
            if shared.state.interrupted:
                break
        if first is None:
            return processing.process_images(p)
        out = list(results)
        if len(history) > 1 and shared.opts.get("return_grid"):
            out = [images.make_grid(history, rows=1), *results]
        script_results.save_final(p, script_results.combined(first, results, seed=None), save_wanted)
        return script_results.combined(first, out, seed=None, interrupted=bool(shared.state.interrupted))
