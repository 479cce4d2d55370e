"""Request and response bodies with A1111 field names and defaults (ref a1111-api.md §3, §8).

The txt2img/img2img bodies are derived from the request fields (modules/generation/bodies.py) and re-exported
here. Unknown keys are ignored, as in A1111 (pydantic's default `extra="ignore"`).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modules.generation.bodies import BODIES, GenerationBody, Img2ImgBody, Txt2ImgBody  # noqa: F401 (re-exported)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class GenerationResponse(BaseModel):
    images: list[str] | None = None
    parameters: dict[str, Any]
    info: str


class PngInfoBody(_Body):
    image: str


class ExtrasBaseBody(_Body):
    resize_mode: int = Field(0, ge=0, le=1)
    show_extras_results: bool = True
    gfpgan_visibility: float = Field(0, ge=0, le=1)
    codeformer_visibility: float = Field(0, ge=0, le=1)
    codeformer_weight: float = Field(0, ge=0, le=1)
    upscaling_resize: float = Field(2, gt=0, le=64)  # bounded: 1e308 would overflow the size computation
    upscaling_resize_w: int = Field(512, ge=1, le=65536)
    upscaling_resize_h: int = Field(512, ge=1, le=65536)
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = Field(0, ge=0, le=1)
    upscale_first: bool = False
    priority: str | None = None  # Easel tasks: high / normal / low


class ExtrasSingleBody(ExtrasBaseBody):
    image: str = ""


class ImageListItem(_Body):
    data: str
    name: str = ""


class ExtrasBatchBody(ExtrasBaseBody):
    imageList: list[ImageListItem]


class InterrogateBody(_Body):
    image: str = ""
    model: str = "clip"
