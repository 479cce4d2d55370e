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
