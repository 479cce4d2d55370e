"""Built-in selectable script "Prompt matrix", A1111 semantics.

The prompt (or negative prompt) is split on `|`: the first part is always used, and every combination of the
other parts is added to it (2^(n-1) images, combination k takes part i+1 when bit i of k is set), joined with
", " (delimiter "comma") or " " ("space"), at the end or, with "put at start", before the first part. Every image
uses the same seed unless "different seeds" (seed + k). The response has the grid first (rows = 2^((n-1)//2), A1111's
layout, labelled as A1111 does: the parts above the columns and left of the rows, the unused ones greyed out and
struck through, `margin_size` pixels between the cells) with the first image's infotext, then the images
(index_of_first_image = 1).
Args (A1111 order): put_at_start, different_seeds, prompt_type ("positive"/"negative"), variations_delimiter
("comma"/"space"), margin_size.
Deviation: each combination is generated as its own batch of one; images are identical to A1111's batched run
because every image has its own random generator. The combinations count against the image cap before the request
is queued (`plan`): more parts than the cap allows is a 422, and a cancel stops the remaining combinations.
"""
from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Iterator
from typing import Any

from modules import images, processing, scripts, shared
from modules.errors import InvalidRequestError


def iter_matrix_prompts(prompt: str, put_at_start: bool, delimiter: str) -> Iterator[str]:
    """Every combination of the `|`-separated parts, in A1111's order, made one at a time (2^(n-1) of them)."""
    parts = prompt.split("|")
    for combination in range(2 ** (len(parts) - 1)):
        selected = [text.strip().strip(",") for n, text in enumerate(parts[1:]) if combination & (1 << n)]
        selected = selected + [parts[0]] if put_at_start else [parts[0]] + selected
        yield delimiter.join(selected)


def matrix_prompts(prompt: str, put_at_start: bool, delimiter: str) -> list[str]:
    """All combinations of the `|`-separated parts, in A1111's order."""
    return list(iter_matrix_prompts(prompt, put_at_start, delimiter))


def _check_args(prompt_type: Any, variations_delimiter: Any) -> None:
    if prompt_type not in ("positive", "negative"):
        raise InvalidRequestError(f"Prompt matrix: unknown prompt type {prompt_type!r}; valid: positive, negative",
                                  field="script_args")
    if variations_delimiter not in ("comma", "space"):
        raise InvalidRequestError(f"Prompt matrix: unknown delimiter {variations_delimiter!r}; valid: comma, space",
                                  field="script_args")


def _cells(p: Any, seed: int, put_at_start: Any, different_seeds: Any, prompt_type: Any,
           variations_delimiter: Any) -> Iterator[Any]:
    """One copy of `p` per combination, made lazily (what `plan` shows and `run` generates)."""
    source = p.prompt if prompt_type == "positive" else p.negative_prompt
    texts = iter_matrix_prompts(source, bool(put_at_start), ", " if variations_delimiter == "comma" else " ")
    for k, text in enumerate(texts):
        pc = copy.copy(p)
        pc.batch_size, pc.n_iter = 1, 1
        pc.seed = seed + (k if different_seeds and seed != -1 else 0)
        if prompt_type == "positive":
            pc.prompt = text
        else:
            pc.negative_prompt = text
        pc.extra_generation_params = dict(p.extra_generation_params)
        yield pc


class Script(scripts.Script):
    def title(self) -> str:
        return "Prompt matrix"

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        put_at_start = gr.Checkbox(label="Put variable parts at start of prompt", value=False,
                                   elem_id=self.elem_id("put_at_start"))
        different_seeds = gr.Checkbox(label="Use different seed for each picture", value=False,
                                      elem_id=self.elem_id("different_seeds"))
        prompt_type = gr.Radio(["positive", "negative"], label="Select prompt", value="positive",
                               elem_id=self.elem_id("prompt_type"))
        delimiter = gr.Radio(["comma", "space"], label="Select joining char", value="comma",
                             elem_id=self.elem_id("variations_delimiter"))
        margin_size = gr.Slider(label="Grid margins (px)", minimum=0, maximum=500, value=0, step=2,
                                elem_id=self.elem_id("margin_size"))
        return [put_at_start, different_seeds, prompt_type, delimiter, margin_size]

    def plan(self, p: Any, put_at_start: Any, different_seeds: Any, prompt_type: Any, variations_delimiter: Any,
             margin_size: Any = 0) -> Iterator[Any]:
        _check_args(prompt_type, variations_delimiter)
        seed = int(p.seed) if p.seed not in (None, "") else -1
        return _cells(p, seed, put_at_start, different_seeds, prompt_type, variations_delimiter)

    def run(self, p: Any, put_at_start: Any, different_seeds: Any, prompt_type: Any, variations_delimiter: Any,
            margin_size: Any = 0) -> Any:
        _check_args(prompt_type, variations_delimiter)
        seed = int(p.seed) if p.seed not in (None, -1, "") else random.randrange(4294967294)
        source = p.prompt if prompt_type == "positive" else p.negative_prompt
        count = 2 ** (len(source.split("|")) - 1)
        rows = 1 << ((len(source.split("|")) - 1) // 2)

        results = []
        per_image = 2 if p.enable_hr and not p.is_img2img else 1  # a hires pass is a job too
        for k, pc in enumerate(_cells(p, seed, put_at_start, different_seeds, prompt_type, variations_delimiter)):
            if shared.state.interrupted:
                break  # cancelled: the remaining combinations are not generated
            pc.job_offset, pc.job_total = k * per_image, count * per_image
            results.append(processing.process_images(pc))
        if not any(r.images for r in results):
            return results[0] if results else processing.process_images(p)

        first = results[0]
        cells = [img for r in results for img in r.images]
        infotexts = [t for r in results for t in r.infotexts]
        grid = images.make_grid(cells, rows=min(rows, len(cells)))
        if len(cells) == count:  # labels need the whole matrix (a cancel leaves it short)
            parts = [part.strip() for part in source.split("|")]
            grid = images.draw_prompt_matrix(grid, cells[0].width, cells[0].height, parts, int(margin_size or 0))
        all_seeds = [s for r in results for s in r.seeds]
        info = dict(first.info, prompt=p.prompt, all_prompts=[t for r in results for t in r.info["all_prompts"]],
                    all_negative_prompts=[t for r in results for t in r.info["all_negative_prompts"]],
                    seed=seed, all_seeds=all_seeds, all_subseeds=[s for r in results for s in r.subseeds],
                    index_of_first_image=1, infotexts=[infotexts[0], *infotexts])
        return dataclasses.replace(first, images=[grid, *cells], infotexts=info["infotexts"], info=info,
                                   seeds=all_seeds, subseeds=info["all_subseeds"], index_of_first_image=1,
                                   interrupted=any(r.interrupted for r in results))
