"""A GenerationRequest as task payload JSON, and back: input images travel as storage keys, so any process that
reaches the storage can run the task."""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from PIL import Image

from modules import images as image_utils
from modules.errors import EaselError, InvalidRequestError
from modules.generation.request import SERVER_FIELDS, GenerationRequest, api_fields
from modules.storage.base import Storage


def input_key(task_id: str, name: str, index: int | None = None) -> str:
    suffix = f"-{index}" if index is not None else ""
    return f"tasks/{task_id}/inputs/{name}{suffix}.png"


def store_inputs(p: GenerationRequest, task_id: str, write: Callable[[str, Image.Image], str]) -> dict[str, Any]:
    """The storage keys of the request's images ({field: key or [keys]}), written with `write(key, image)`."""
    keys: dict[str, Any] = {}
    for f, rule in api_fields(p.mode):
        value = getattr(p, f.name)
        if rule.image == "many":
            keys[f.name] = [write(input_key(task_id, f.name, i), image) for i, image in enumerate(value or [])]
        elif rule.image == "one":
            keys[f.name] = write(input_key(task_id, f.name), value) if value is not None else None
    return keys


def to_payload(p: GenerationRequest, image_keys: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON: every request field and the server-resolved ones; images replaced by `image_keys`."""
    payload: dict[str, Any] = {name: getattr(p, name) for name in SERVER_FIELDS}
    for f, rule in api_fields(p.mode):
        payload[f.name] = image_keys.get(f.name) if rule.image else getattr(p, f.name)
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as e:  # scripts' UI defaults are the usual culprit
        raise InvalidRequestError(f"script_args: a script argument is not JSON ({e})", field="script_args") from e
    return payload


def from_payload(payload: dict[str, Any], storage: Storage) -> GenerationRequest:
    """The request a payload describes, its images read back from `storage`."""
    p = GenerationRequest(mode=payload.get("mode", "txt2img"))
    for name in SERVER_FIELDS:
        if name in payload:
            setattr(p, name, payload[name])
    p.style_prompts = [(str(prompt), str(negative)) for prompt, negative in p.style_prompts]
    for f, rule in api_fields(p.mode):
        if f.name not in payload:
            continue
        value = payload[f.name]
        if rule.image == "many":
            value = [read_image(storage, key) for key in value or []]
        elif rule.image == "one":
            value = read_image(storage, value) if value else None
        setattr(p, f.name, value)
    return p


def read_image(storage: Storage, key: str) -> Image.Image:
    """A stored input image, decoded (EaselError when the stored bytes are not an image)."""
    try:
        image = Image.open(io.BytesIO(storage.read(key)))
        image.load()
    except OSError as e:
        raise EaselError(f"the stored input image {key} cannot be read: {e}") from e
    return image


def png_bytes(image: Image.Image) -> bytes:
    """An input image as stored: lossless, with its text (an infotext carries over to extras results)."""
    parameters, _items = image_utils.read_infotext(image)
    return image_utils.encode_image(image, fmt="png", infotext=parameters)
