"""The ASGI middleware that turns managed-service requests into plain A1111 ones and shapes their answers.

For POST /sdapi/v1/txt2img and /img2img whose `alwayson_scripts` hold managed keys (see request.py):
validate and resolve everything that can fail before generating (model names, save_dir, image links), forward
a plain A1111 body to the app (override_settings with the model and VAE, restore_afterwards false, so they
stay current; force_task_id; fetched init_images / ControlNet images), then save the images and answer
{images, parameters: {id_task, status, image_url, seed, error_msg, total_time}, info}. Anything else passes
through untouched.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from eas_lib import host
from eas_lib.config import EasConfig
from eas_lib.errors import EasError
from eas_lib.fetch import LinkPolicy, fetch_image
from eas_lib.outputs import failure_body, save_outputs, success_body
from eas_lib.paths import SaveTarget, resolve_save_dir
from eas_lib.request import CONTROLNET_FIELD, ManagedRequest, extract
from modules.api.json_guard import read_body

log = logging.getLogger("eas")
ROUTES = {"/sdapi/v1/txt2img": "txt2img", "/sdapi/v1/img2img": "img2img"}
Message = dict[str, Any]


class ManagedApiMiddleware:
    """Pure ASGI middleware; `config` comes from the flags at app start, options are read per request."""

    def __init__(self, app: Callable[..., Awaitable[None]], config: EasConfig):
        self.app = app
        self.config = config

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        mode = ROUTES.get(scope.get("path", "").rstrip("/")) if scope["type"] == "http" else None
        if mode is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        messages, body = await read_body(receive)
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, RecursionError):  # malformed, or nested too deep for the parser
            parsed = None  # the app answers malformed JSON itself
        started = time.perf_counter()
        managed: ManagedRequest | None = None
        try:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("task_id", [None])[0]
            managed = extract(parsed, mode, query)
            if managed is None:
                await self.app(scope, _replay(messages, receive), send)
                return
            payload, code = await self._handle(scope, receive, managed, started)
        except EasError as exc:
            id_task = managed.id_task if managed else ""
            payload, code = failure_body(status=exc.status, message=exc.message, id_task=id_task,
                                         total_time=time.perf_counter() - started,
                                         uid=managed.uid if managed else None), exc.status
            log.info("EAS %s id_task=%s uid=%s failed (%d): %s", mode, id_task, managed.uid if managed else None,
                     exc.status, exc.message)
        await _send_json(send, code, payload, task_id=managed.id_task if managed else None)

    async def _handle(self, scope: dict, receive: Callable, managed: ManagedRequest,
                      started: float) -> tuple[dict, int]:
        target = await self._prepare(managed)
        status, raw = await self._forward(scope, receive, json.dumps(managed.body).encode("utf-8"))
        try:
            result = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EasError(502, f"the generation answered HTTP {status} with a body that is not JSON") from exc
        if status != 200:
            message = result.get("errors") or result.get("detail") if isinstance(result, dict) else None
            raise EasError(status, message if isinstance(message, str) else json.dumps(message))
        if host.task_status(managed.id_task) == "cancelled":
            raise EasError(409, f"the task {managed.id_task} was cancelled", field="id_task")
        images, info_text = list(result.get("images") or []), result.get("info") or ""
        info = json.loads(info_text) if info_text else {}
        seeds = list(info.get("all_seeds") or [])[: len(info.get("infotexts") or images)]
        saved = None
        if target is not None:
            options = {k: host.option(k, d) for k, d in
                       (("grid_save", True), ("grid_only_if_multiple", True), ("grid_format", "png"))}
            try:
                saved = await asyncio.to_thread(save_outputs, images, info, managed.mode, target, options)
            except OSError as exc:
                raise EasError(500, f"save_dir: cannot write the images: {exc}", field="save_dir") from exc
        total = time.perf_counter() - started
        log.info("EAS %s id_task=%s uid=%s model=%s saved=%d in %.2fs", managed.mode, managed.id_task,
                 managed.uid, managed.checkpoint, len(saved.image_urls) if saved else 0, total)
        return success_body(images=images if managed.send_images else [], info=info_text, id_task=managed.id_task,
                            seeds=seeds, saved=saved, total_time=total, uid=managed.uid), 200

    async def _prepare(self, managed: ManagedRequest) -> SaveTarget | None:
        """Everything that can fail before generating; edits `managed.body` into a plain A1111 body."""
        body, config = managed.body, self.config
        target = None
        if managed.save_dir is not None:
            target = resolve_save_dir(managed.save_dir, managed.uid, config.data_dir, config.mount_prefixes)
        overrides = dict(body.get("override_settings") or {})
        if managed.checkpoint is not None:
            overrides["sd_model_checkpoint"] = await asyncio.to_thread(host.resolve_checkpoint, managed.checkpoint)
        if managed.vae is not None:
            overrides["sd_vae"] = host.resolve_vae(managed.vae)
        if overrides:
            body["override_settings"] = overrides
        if managed.checkpoint is not None or managed.vae is not None:
            body["override_settings_restore_afterwards"] = False  # the named model stays the current one
        if managed.controlnet_units:  # the ControlNet extension checks its units before any link is fetched
            await asyncio.to_thread(host.check_controlnet_units, managed.controlnet_units, managed.mode)
        policy = LinkPolicy(timeout=config.link_timeout, max_bytes=config.link_max_bytes,
                            max_pixels=config.max_input_pixels, enabled=bool(host.option("api_enable_requests", True)),
                            forbid_local=bool(host.option("api_forbid_local_requests", True)),
                            user_agent=str(host.option("api_useragent", "") or ""), rewrites=config.link_map,
                            read_stored=host.read_stored_image, is_stored=host.is_storage_reference)
        if managed.image_link is not None:
            data = await fetch_image(managed.image_link, policy)
            body["init_images"] = [base64.b64encode(data).decode("ascii")]
        for index, unit in enumerate(managed.controlnet_units):
            link = unit.pop("image_link", None) if isinstance(unit, dict) else None
            if link is not None:
                data = await fetch_image(link, policy, field_name=f"{CONTROLNET_FIELD}.args[{index}].image_link")
                unit["image"] = base64.b64encode(data).decode("ascii")
        body["force_task_id"] = managed.id_task
        body["send_images"] = True  # the shim needs them to save; the caller gets them only when asked
        return target

    async def _forward(self, scope: dict, receive: Callable, body: bytes) -> tuple[int, bytes]:
        """Run the app on `body`; the (uncompressed) answer is captured, not sent."""
        skip = (b"content-length", b"accept-encoding", b"transfer-encoding")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in skip]
        headers.append((b"content-length", str(len(body)).encode("ascii")))
        inner = dict(scope, headers=headers)
        state: dict[str, Any] = {"status": 500, "chunks": [], "sent": False}

        async def inner_receive() -> Message:
            if not state["sent"]:
                state["sent"] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif message["type"] == "http.response.body":
                state["chunks"].append(message.get("body", b""))

        await self.app(inner, inner_receive, capture)
        return state["status"], b"".join(state["chunks"])


def _replay(messages: list[Message], receive: Callable) -> Callable[[], Awaitable[Message]]:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def _send_json(send: Callable, status: int, payload: dict, task_id: str | None = None) -> None:
    data = json.dumps(payload).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if task_id:
        headers.append((b"x-task-id", task_id.encode("utf-8")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
