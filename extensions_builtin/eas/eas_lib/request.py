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
CONTROLNET_FIELD = "alwayson_scripts.controlnet"


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
    # The units are checked by the ControlNet extension (host.check_controlnet_units) before links are fetched.


def _plain(value: Any) -> Any:
    """A plain value; `{"args": [v, ...]}` (the script-entry spelling) is accepted as `v`."""
    if isinstance(value, dict) and isinstance(value.get("args"), list) and value["args"]:
        return value["args"][0]
    return value


def _controlnet_units(alwayson: dict[str, Any]) -> list[Any]:
    """The ControlNet `args` list (any shape: the ControlNet extension checks it), or [] without one."""
    key = next((k for k in alwayson if str(k).lower() == "controlnet"), None)
    entry = alwayson.get(key) if key is not None else None
    args = entry.get("args") if isinstance(entry, dict) else None
    return args if isinstance(args, list) else []


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
    if not found and not any(isinstance(unit, dict) and "image_link" in unit for unit in units):
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
    return managed
