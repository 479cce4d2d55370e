"""What A1111's selectable img2img scripts return after several generations (`Processed(p, images, seed, info)`):
the images they made, each with the first generation's infotext; and their own saving of the final images."""
from __future__ import annotations

import dataclasses
from typing import Any

from modules.generation.request import GenerationResult


def combined(first: GenerationResult, images: list, *, seed: int | None, interrupted: bool = False
             ) -> GenerationResult:
    """A1111 `Processed(p, images, seed, info)`: every image carries the first generation's infotext."""
    infotext = first.infotexts[0] if first.infotexts else ""
    infotexts = [infotext] * len(images)
    if seed is None:
        seed = first.seeds[0] if first.seeds else -1
    info = dict(first.info, infotexts=infotexts, seed=seed, index_of_first_image=0)
    return dataclasses.replace(first, images=images, infotexts=infotexts, info=info,
                               seeds=[seed] * len(images), subseeds=first.subseeds[:1] * len(images),
                               index_of_first_image=0, interrupted=interrupted or first.interrupted)


def save_final(p: Any, result: GenerationResult, wanted: bool) -> None:
    """Write the script's final images to the outputs folder when the request asked for saving (`wanted`: its
    `do_not_save_samples` was false) and the samples_save option is on; the inner generations are not saved."""
    from modules import shared

    if wanted and shared.opts.get("samples_save"):
        shared.services.jobs.outputs.save_samples(p.mode, result, p)
