"""The A1111 txt2img/img2img request bodies, derived from the request fields (modules/generation/request.py).

Every field of `GenerationRequest` that carries `api` metadata becomes an optional body field with the A1111
default (null means "the default"); images are base64 strings. The fields below in `EDGE_FIELDS` exist only in
the body (how to answer, which id to use, legacy names). Unknown keys are ignored, as in A1111.
"""
from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, create_model

from modules.generation.request import GenerationRequest, api_fields, field_default

# Defaults that differ by tab (A1111's img2img processing class defaults denoising to 0.75).
MODE_DEFAULTS: dict[str, dict[str, Any]] = {"img2img": {"denoising_strength": 0.75}}

# Body-only fields: (type, default) per tab; "both" applies to txt2img and img2img.
EDGE_FIELDS: dict[str, dict[str, tuple[Any, Any]]] = {
    "both": {
        "sampler_index": (str | None, "Euler"),  # A1111's old name of sampler_name
        "refiner_checkpoint": (str | None, None),
        "refiner_switch_at": (float | None, None),
        "firstpass_image": (str | None, None),
        "send_images": (bool, True),
        "save_images": (bool, False),
        "alwayson_scripts": (dict[str, Any], {}),
        "force_task_id": (str | None, None),
        "infotext": (str | None, None),
        "webhook_url": (str | None, None),  # Easel tasks: POSTed when the task finishes
        "priority": (str | None, None),  # Easel tasks: high / normal (null) / low (modules/tasks/scheduling.py)
    },
    "txt2img": {
        "firstphase_width": (int | None, 0),
        "firstphase_height": (int | None, 0),
        "hr_checkpoint_name": (str | None, None),
    },
    "img2img": {
        "mask_blur": (int | None, None),  # sets mask_blur_x and mask_blur_y
        "latent_mask": (str | None, None),
        "include_init_images": (bool, False),
    },
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


def _edge_type(name: str, image: str | None, hints: dict[str, Any]) -> Any:
    if image == "many":
        return list[str] | None
    if image == "one":
        return str | None
    hint = hints[name]
    return hint if type(None) in typing.get_args(hint) else hint | None


def _field(kind: Any, default: Any) -> tuple[Any, Any]:
    if isinstance(default, (list, dict)):
        return kind, Field(default_factory=lambda d=default: type(d)(d))
    return kind, default


def _fields_for(modes: tuple[str, ...]) -> dict[str, tuple[Any, Any]]:
    """The body fields that exist in exactly the tabs `modes` (("txt2img", "img2img") for the common ones)."""
    hints = typing.get_type_hints(GenerationRequest)
    mode = modes[0] if len(modes) == 1 else None
    out: dict[str, tuple[Any, Any]] = {}
    for f, rule in api_fields():
        if tuple(rule.modes) != modes:
            continue
        default = rule.edge_default(field_default(f))
        if mode is not None:
            default = MODE_DEFAULTS.get(mode, {}).get(f.name, default)
        out[f.name] = _field(_edge_type(f.name, rule.image, hints), default)
    for name, (kind, default) in EDGE_FIELDS["both" if mode is None else mode].items():
        out[name] = _field(kind, default)
    return out


def _img2img_fields() -> dict[str, tuple[Any, Any]]:
    fields = _fields_for(("img2img",))
    for name, default in MODE_DEFAULTS["img2img"].items():  # a common field with an img2img default
        hint = typing.get_type_hints(GenerationRequest)[name]
        fields[name] = _field(hint if type(None) in typing.get_args(hint) else hint | None, default)
    return fields


if TYPE_CHECKING:  # built from the table at import time; type checkers see any attribute
    class GenerationBody:
        model_fields: ClassVar[dict[str, Any]]

        def __init__(self, **data: Any) -> None: ...

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

        def model_dump(self, **kwargs: Any) -> dict[str, Any]: ...

        @classmethod
        def model_validate(cls, data: Any) -> Any: ...

    class Txt2ImgBody(GenerationBody): ...

    class Img2ImgBody(GenerationBody): ...
else:
    GenerationBody = create_model("GenerationBody", __base__=_Body, **_fields_for(("txt2img", "img2img")))
    Txt2ImgBody = create_model("Txt2ImgBody", __base__=GenerationBody, **_fields_for(("txt2img",)))
    Img2ImgBody = create_model("Img2ImgBody", __base__=GenerationBody, **_img2img_fields())

BODIES: dict[str, type[GenerationBody]] = {"txt2img": Txt2ImgBody, "img2img": Img2ImgBody}
