"""Reading the managed-service keys out of a txt2img/img2img body (`alwayson_scripts`, plain values)."""
from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from eas_lib.errors import bad_request
from eas_lib.paths import check_uid

MANAGED_KEYS = ("sd_model_checkpoint", "sd_vae", "save_dir", "image_link", "id_task", "uid")
TASK_ID_PATTERN = re.compile(r"^[\w.:()@/+-]{1,128}$")
RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill", "Inner Fit (Scale to Fit)",
                "Envelope (Outer Fit)", 0, 1, 2)
CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important", 0, 1, 2)


@dataclass
class ManagedRequest:
    """A request that uses managed-service keys. `body` is the A1111 body without them (a deep copy)."""

    mode: str
    body: dict[str, Any]
    id_task: str
    checkpoint: str | None = None
    vae: str | None = None
    save_dir: Any = None
    image_link: Any = None
    uid: str | None = None
    send_images: bool = True
    controlnet_units: list[dict[str, Any]] = field(default_factory=list)  # inside `body`, edited in place


def _plain(value: Any) -> Any:
    """A plain value; `{"args": [v, ...]}` (the script-entry spelling) is accepted as `v`."""
    if isinstance(value, dict) and isinstance(value.get("args"), list) and value["args"]:
        return value["args"][0]
    return value


def _controlnet_units(alwayson: dict[str, Any]) -> list[dict[str, Any]]:
    key = next((k for k in alwayson if str(k).lower() == "controlnet"), None)
    if key is None:
        return []
    entry = alwayson[key]
    args = entry.get("args") if isinstance(entry, dict) else None
    if not isinstance(args, list) or not all(isinstance(unit, dict) for unit in args):
        raise bad_request("alwayson_scripts.controlnet: expected {\"args\": [unit, ...]} with one object per unit",
                          field="controlnet")
    return args


def _task_id(value: Any) -> str:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not TASK_ID_PATTERN.match(text) or set(text) <= {".", "/"}:
        raise bad_request(f"id_task: expected 1-128 letters, digits or _.:()@/+-, got {value!r}", field="id_task")
    return text


def extract(body: Any, mode: str, query_task_id: str | None = None) -> ManagedRequest | None:
    """The managed request in `body`, or None when it uses none of the keys (then it passes through as is)."""
    if not isinstance(body, dict) or not isinstance(body.get("alwayson_scripts"), dict):
        return None
    alwayson = body["alwayson_scripts"]
    found = {str(k).lower(): k for k in alwayson if str(k).lower() in MANAGED_KEYS}
    units = _controlnet_units(alwayson)
    if not found and not any("image_link" in unit for unit in units):
        return None
    forwarded = copy.deepcopy(body)
    values = {name: _plain(forwarded["alwayson_scripts"].pop(key)) for name, key in found.items()}
    raw_id = values.get("id_task") or body.get("force_task_id") or query_task_id
    managed = ManagedRequest(mode=mode, body=forwarded, id_task=_task_id(raw_id) if raw_id else str(uuid.uuid4()),
                             checkpoint=values.get("sd_model_checkpoint"), vae=values.get("sd_vae"),
                             save_dir=values.get("save_dir") or None, image_link=values.get("image_link"),
                             controlnet_units=_controlnet_units(forwarded["alwayson_scripts"]))
    if values.get("uid") not in (None, ""):
        managed.uid = check_uid(values["uid"])
        # Recorded with the task: `comments` is a plain A1111 request field, kept in the stored parameters.
        forwarded["comments"] = {**(forwarded.get("comments") or {}), "uid": managed.uid}
    if managed.image_link is not None and mode != "img2img":
        raise bad_request("image_link: only img2img takes an init image link (use it inside a ControlNet unit for "
                          "txt2img)", field="image_link")
    send = body.get("send_images")
    managed.send_images = bool(send) if send is not None else managed.save_dir is None
    for index, unit in enumerate(managed.controlnet_units):
        validate_unit(unit, index)
    return managed


def _number(unit: dict[str, Any], key: str, default: float, low: float, high: float, where: str) -> float:
    value = unit.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(f"{where}.{key}: expected a number between {low} and {high}, got {value!r}", field=key)
    return float(value)


def validate_unit(unit: dict[str, Any], index: int) -> None:
    """Check a ControlNet unit the way the ControlNet extension's API does (types, ranges, enums)."""
    where = f"controlnet.args[{index}]"
    for key in ("enabled", "low_vram", "pixel_perfect", "loopback"):
        if key in unit and not isinstance(unit[key], bool):
            raise bad_request(f"{where}.{key}: expected true or false, got {unit[key]!r}", field=key)
    for key in ("module", "model", "image_link"):
        if key in unit and not isinstance(unit[key], str):
            raise bad_request(f"{where}.{key}: expected a string, got {unit[key]!r}", field=key)
    _number(unit, "weight", 1.0, 0.0, 2.0, where)
    start = _number(unit, "guidance_start", 0.0, 0.0, 1.0, where)
    end = _number(unit, "guidance_end", 1.0, 0.0, 1.0, where)
    if start > end:
        raise bad_request(f"{where}: guidance_start ({start}) is after guidance_end ({end})", field="guidance_start")
    for key in ("processor_res", "threshold_a", "threshold_b"):
        value = unit.get(key, -1)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad_request(f"{where}.{key}: expected a number, got {value!r}", field=key)
    if unit.get("resize_mode", "Crop and Resize") not in RESIZE_MODES:
        raise bad_request(f"{where}.resize_mode: expected one of {list(RESIZE_MODES[:3])}", field="resize_mode")
    if unit.get("control_mode", "Balanced") not in CONTROL_MODES:
        raise bad_request(f"{where}.control_mode: expected one of {list(CONTROL_MODES[:3])}", field="control_mode")
    if unit.get("input_mode", "simple") not in ("simple", "batch", "merge"):
        raise bad_request(f"{where}.input_mode: expected simple, batch or merge", field="input_mode")
