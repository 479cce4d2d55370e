"""JSON request bodies are checked once, before any route or extension reads them.

Python's JSON parser accepts what no request should carry: `NaN`, `Infinity` and `-Infinity` (and numbers such as
`1e999` that overflow to infinity), strings with lone UTF-16 surrogates (`"\\ud800"`, which cannot be encoded
again), and nesting deep enough to exhaust the interpreter's recursion limit. `JsonBodyGuard` answers those
bodies with a 422 naming the field; bodies that are not JSON at all go on to the route, which answers them as
before. Bodies are JSON when FastAPI would parse them as JSON: no Content-Type, `application/json` or
`application/*+json`.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

Message = dict[str, Any]
_SURROGATE = re.compile("[\ud800-\udfff]")
_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class _NonFinite:
    def __init__(self, text: str):
        self.text = text


class BodyProblem(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _number(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _join(path: str, key: object) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def check_json(body: bytes, max_depth: int) -> None:
    """Raise BodyProblem for a parseable body that holds a non-finite number, a lone surrogate or nesting deeper
    than `max_depth`; return silently for good bodies and for bodies that are not JSON."""
    try:
        value = json.loads(body, parse_constant=_NonFinite, parse_float=_number)
    except RecursionError as exc:
        raise BodyProblem("body", f"body: JSON nested deeper than {max_depth} levels") from exc
    except ValueError:
        return  # not JSON (or not UTF-8): the route answers that itself
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        where = path or "body"
        if isinstance(item, _NonFinite):
            raise BodyProblem(where, f"{where}: {item.text} is not a number JSON allows (NaN and infinities are "
                                     "refused)")
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise BodyProblem(where, f"{where}: the text holds a lone UTF-16 surrogate (invalid Unicode)")
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth > max_depth:
            raise BodyProblem(where, f"{where}: JSON nested deeper than {max_depth} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if _SURROGATE.search(key):
                    raise BodyProblem(where, f"{where}: a key holds a lone UTF-16 surrogate (invalid Unicode)")
                stack.append((child, _join(path, key), depth + 1))
        else:
            stack.extend((child, _join(path, i), depth + 1) for i, child in enumerate(item))


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    content_type = next((v for k, v in headers if k.lower() == b"content-type"), None)
    if content_type is None:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    main, _, sub = media.partition(b"/")
    return main == b"application" and (sub == b"json" or sub.endswith(b"+json"))


def problem_body(problem: BodyProblem) -> dict[str, Any]:
    """A1111's error keys plus the serverless API's {code, message}, so either kind of client sees the reason."""
    return {"error": "InvalidJSONError", "detail": problem.message, "body": "", "errors": problem.message,
            "code": 422, "message": problem.message, "field": problem.field}


async def read_body(receive: Callable) -> tuple[list[Message], bytes]:
    """An ASGI request's messages (to replay them to the app) and its whole body."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    return messages, b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")


class JsonBodyGuard:
    """Pure ASGI middleware (the body is read once and replayed to the app unchanged)."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_depth: int = 64):
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("method") not in _METHODS or not _is_json(scope["headers"]):
            await self.app(scope, receive, send)
            return
        messages, body = await read_body(receive)
        try:
            if body:
                check_json(body, self.max_depth)
        except BodyProblem as problem:
            data = json.dumps(problem_body(problem)).encode("utf-8")
            await send({"type": "http.response.start", "status": 422,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(data)).encode("ascii"))]})
            await send({"type": "http.response.body", "body": data})
            return
        pending = list(messages)

        async def replay() -> Message:
            return pending.pop(0) if pending else await receive()

        await self.app(scope, replay, send)
