"""ControlNet units: the dicts of `alwayson_scripts.controlnet.args`, checked and normalised the way the
sd-webui-controlnet API (version 3) reads them.

Torch-free: the API process checks every unit before the request is queued; the worker reads the same dicts
again from the task payload (images stay base64 there) and decodes the images it needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from modules.errors import InvalidRequestError

FIELD_PREFIX = "alwayson_scripts.controlnet.args"
RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill")
RESIZE_ALIASES = {"Inner Fit (Scale to Fit)": "Crop and Resize", "Outer Fit (Shrink to Fit)": "Resize and Fill",
                  "Scale to Fit (Inner Fit)": "Crop and Resize", "Envelope (Outer Fit)": "Resize and Fill",
                  "Just Resize (Latent upscale)": "Just Resize"}
CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
HR_OPTIONS = ("Both", "Low res only", "High res only")
INPUT_MODES = ("simple", "batch", "merge")
LEGACY_ALIASES = {"guidance": "guidance_end", "lowvram": "low_vram", "input_image": "image", "mask_image": "mask"}
BOOL_FIELDS = ("enabled", "low_vram", "pixel_perfect", "loopback", "save_detected_map", "inpaint_crop_input_image",
               "is_ui")
INFOTEXT_FIELDS = ("module", "model", "weight", "resize_mode", "processor_res", "threshold_a", "threshold_b",
                   "guidance_start", "guidance_end", "pixel_perfect", "control_mode")


@dataclass
class Unit:
    """One unit, normalised: enum fields hold their canonical names, `module` the preprocessor's name."""

    index: int = 0
    enabled: bool = False
    module: str = "none"
    model: str = "None"  # the model as given; `model_title` is what it resolved to
    model_title: str | None = None
    weight: float = 1.0
    image: Any = None  # base64 string, {"image", "mask"} dict, [image, mask] pair or a list of dicts (raw)
    mask: Any = None
    image_link: str | None = None  # fetched into `image` by the managed-service shim (extensions_builtin/eas)
    resize_mode: str = "Crop and Resize"
    low_vram: bool = False
    processor_res: float = -1
    threshold_a: float = -1
    threshold_b: float = -1
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    pixel_perfect: bool = False
    control_mode: str = "Balanced"
    input_mode: str = "simple"
    batch_images: Any = None
    output_dir: str = ""
    loopback: bool = False
    is_ui: bool = False
    hr_option: str = "Both"
    save_detected_map: bool = True
    inpaint_crop_input_image: bool = True
    advanced_weighting: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # fields Easel ignores (kept for the record)

    def where(self, name: str) -> str:
        return unit_field(self.index, name)

    def infotext(self) -> str:
        """The extension's `ControlNet N` infotext value: `Module: canny, Model: ..., Weight: 1.0, ...`."""
        values = {"model": self.model_title or self.model}
        parts = []
        for name in INFOTEXT_FIELDS:
            value = values.get(name, getattr(self, name))
            parts.append(f"{' '.join(w.capitalize() for w in name.split('_'))}: {value}")
        return ", ".join(parts)


def unit_field(index: int, name: str | None = None) -> str:
    return f"{FIELD_PREFIX}[{index}]" + (f".{name}" if name else "")


def bad(index: int, name: str | None, message: str) -> InvalidRequestError:
    where = unit_field(index, name)
    return InvalidRequestError(f"{where}: {message}", field=where)


def _number(index: int, name: str, value: Any, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad(index, name, f"expected a number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise bad(index, name, f"expected a number between {low} and {high}, got {value!r}")
    return float(value)


def _choice(index: int, name: str, value: Any, names: tuple[str, ...], aliases: dict[str, str] | None = None,
            ints: bool = True) -> str:
    """A canonical enum name from a name, one of its old aliases, or (`ints`) its position."""
    if isinstance(value, str):
        canonical = (aliases or {}).get(value, value)
        if canonical in names:
            return canonical
    elif ints and isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(names):
            return names[value]
        if names is RESIZE_MODES and value == 3:  # A1111's "Just resize (latent upscale)"
            return RESIZE_MODES[0]
    valid = ", ".join(repr(n) for n in names)
    raise bad(index, name, f"expected one of {valid}{' (or its index)' if ints else ''}, got {value!r}")


def resize_mode_from_value(value: Any, index: int = 0, name: str = "resize_mode") -> str:
    """'Just Resize' | 'Crop and Resize' | 'Resize and Fill' from a name, old alias or int (A1111 img2img too)."""
    return _choice(index, name, value, RESIZE_MODES, RESIZE_ALIASES)


def _image_shape(index: int, name: str, value: Any) -> None:
    """The accepted spellings of `image` (decoded later): base64 string, {image, mask}, [image, mask], [dicts]."""
    if value is None or isinstance(value, str):
        return
    if isinstance(value, dict):
        if not isinstance(value.get("image"), str):
            raise bad(index, name, "an {\"image\": ..., \"mask\": ...} object needs a base64 \"image\"")
        if value.get("mask") is not None and not isinstance(value.get("mask"), str):
            raise bad(index, name, "\"mask\" must be a base64 string")
        return
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, dict) for v in value):
            for item in value:
                _image_shape(index, name, item)
            return
        if len(value) == 2 and isinstance(value[0], str) and (value[1] is None or isinstance(value[1], str)):
            return
    raise bad(index, name, "expected a base64 image, an {\"image\", \"mask\"} object or a list of those")


def parse_unit(value: Any, index: int) -> Unit:
    """Check one unit dict (types, ranges, enum names); unknown fields are ignored, as the extension does.
    Module and model names are resolved separately (`Catalog.resolve`), since only enabled units need them."""
    if value is None:
        return Unit(index=index)
    if not isinstance(value, dict):
        raise bad(index, None, f"expected a unit object, got {type(value).__name__}")
    data = dict(value)
    for alias, name in LEGACY_ALIASES.items():
        if alias in data:
            if name in data and data[name] is not None and data[alias] is not None:
                raise bad(index, alias, f"give either {alias!r} or {name!r}, not both")
            data[name] = data.pop(alias)
    unit = Unit(index=index)
    known = {f.name for f in fields(Unit)} - {"index", "model_title", "extra"}
    unit.extra = {k: v for k, v in data.items() if k not in known}
    for name in BOOL_FIELDS:
        if name in data:
            if not isinstance(data[name], bool):
                raise bad(index, name, f"expected true or false, got {data[name]!r}")
            setattr(unit, name, data[name])
    for name in ("module", "output_dir"):
        if data.get(name) is not None:
            if not isinstance(data[name], str):
                raise bad(index, name, f"expected a string, got {data[name]!r}")
            setattr(unit, name, data[name])
    if "model" in data:
        model = data["model"]
        if model is not None and not isinstance(model, str):
            raise bad(index, "model", f"expected a model name or null, got {model!r}")
        unit.model = model if model else "None"
    if data.get("image_link") is not None:
        if not isinstance(data["image_link"], str) or not data["image_link"].strip():
            raise bad(index, "image_link", f"expected a URL string, got {data['image_link']!r}")
        unit.image_link = data["image_link"].strip()
    unit.weight = _number(index, "weight", data.get("weight", 1.0), 0.0, 2.0)
    unit.guidance_start = _number(index, "guidance_start", data.get("guidance_start", 0.0), 0.0, 1.0)
    unit.guidance_end = _number(index, "guidance_end", data.get("guidance_end", 1.0), 0.0, 1.0)
    if unit.guidance_start > unit.guidance_end:
        raise bad(index, "guidance_start", f"guidance_start ({unit.guidance_start}) is after guidance_end "
                                           f"({unit.guidance_end})")
    for name in ("processor_res", "threshold_a", "threshold_b"):
        raw = data.get(name, -1)
        setattr(unit, name, _number(index, name, -1 if raw is None else raw))
    unit.resize_mode = resize_mode_from_value(data.get("resize_mode", "Crop and Resize"), index)
    unit.control_mode = _choice(index, "control_mode", data.get("control_mode", "Balanced"), CONTROL_MODES)
    unit.hr_option = _choice(index, "hr_option", data.get("hr_option", "Both"), HR_OPTIONS, ints=False)
    unit.input_mode = _choice(index, "input_mode", data.get("input_mode", "simple"), INPUT_MODES, ints=False)
    _image_shape(index, "image", data.get("image"))
    unit.image = data.get("image")
    mask = data.get("mask")
    if mask is not None and not isinstance(mask, str):
        raise bad(index, "mask", "expected a base64 image")
    unit.mask = mask
    unit.batch_images = data.get("batch_images")
    weights = data.get("advanced_weighting")
    if weights is not None:
        if not isinstance(weights, list) or not weights:
            raise bad(index, "advanced_weighting", "expected a list of numbers (13 for SD1.x/SD2.x, 10 for SDXL)")
        unit.advanced_weighting = [_number(index, "advanced_weighting", w) for w in weights]
    return unit


def parse_units(args: Any) -> list[Unit]:
    """Every unit of the script's argument slice (None entries are off units)."""
    return [parse_unit(value, i) for i, value in enumerate(args or [])]
