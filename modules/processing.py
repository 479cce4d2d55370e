"""A1111's `modules.processing` for scripts and extensions: the request (`p`), the result (`Processed`) and
`process_images`. The definitions live in modules/generation/request.py."""
from __future__ import annotations

from modules.generation.request import GenerationRequest, GenerationResult

# A1111's names for the same types
StableDiffusionProcessing = GenerationRequest
StableDiffusionProcessingTxt2Img = GenerationRequest
StableDiffusionProcessingImg2Img = GenerationRequest
Processed = GenerationResult


def process_images(p: GenerationRequest) -> GenerationResult:
    """A1111's `processing.process_images`: run a generation now, inside the running task.

    Selectable scripts call this from `run(p, ...)` (possibly several times, e.g. the x/y/z plot).
    """
    from modules import shared

    return shared.services.jobs.process_images(p)


def get_fixed_seed(seed: int | str | None) -> int:
    """A1111's `processing.get_fixed_seed`: -1, "" or None -> a random seed; anything else as an int."""
    import random

    if seed is None or seed == "" or int(seed) == -1:
        return random.randrange(4294967294)
    return int(seed)


def fix_seed(p: GenerationRequest) -> None:
    """A1111's `processing.fix_seed`: resolve a random seed and subseed once, so later generations reuse them."""
    p.seed = get_fixed_seed(p.seed)
    p.subseed = get_fixed_seed(p.subseed)
