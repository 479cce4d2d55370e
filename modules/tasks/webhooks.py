"""Webhook delivery: POST the finished task to its `webhook_url`, HMAC-signed, retried with exponential backoff.

Every attempt is recorded on the task (`webhook.attempts`); deliveries still pending when the process stops
resume on the next start.
"""
from __future__ import annotations

import heapq
import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from modules.errors import InvalidRequestError
from modules.tasks.signing import webhook_signature
from modules.tasks.store_base import TaskRecord, TaskStore

logger = logging.getLogger(__name__)


def checked_address(url: str, allow_private: bool) -> str | None:
    """The address to deliver `url` to: every address its host resolves to must be global (not private, loopback,
    link-local, ...) unless `allow_private`; None when private addresses are allowed (then no pinning)."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError as e:
        raise InvalidRequestError(f"webhook_url: not a valid URL: {e}", field="webhook_url") from e
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(f"webhook_url: expected an http(s) URL, got {url!r}", field="webhook_url")
    if allow_private:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise InvalidRequestError(f"webhook_url: cannot resolve {parts.hostname!r}", field="webhook_url") from e
    addresses = [str(info[4][0]) for info in infos]
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        mapped = getattr(address, "ipv4_mapped", None)
        if not address.is_global or (mapped is not None and not mapped.is_global):
            raise InvalidRequestError(
                f"webhook_url: {parts.hostname!r} is a private or local address ({address}); "
                "start the server with --webhook-allow-private to allow it", field="webhook_url")
    return addresses[0]


def check_webhook_url(url: str, allow_private: bool) -> str:
    """An http(s) URL whose host does not resolve to a private, loopback or link-local address (unless allowed)."""
    checked_address(url, allow_private)
    return url


def pinned_post(url: str, address: str | None, *, content: bytes, headers: dict[str, str],
                timeout: float) -> httpx.Response:
    """POST to `url`, connecting to the checked `address` (Host header and TLS SNI keep the name), so a DNS answer
    that changes after the check (rebinding) cannot send the request elsewhere."""
    target = httpx.URL(url)
    extensions: dict = {}
    if address is not None:
        headers = {**headers, "Host": target.netloc.decode("ascii")}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        target = target.copy_with(host=address)
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        return client.post(target, content=content, headers=headers, extensions=extensions)


class WebhookDispatcher:
    """One background thread; a heap of due deliveries."""

    def __init__(self, store: TaskStore, secret: bytes, payload: Callable[[TaskRecord], dict], *,
                 max_attempts: int = 5, backoff: float = 1.0, timeout: float = 10.0, allow_private: bool = False):
        self.store = store
        self.secret = secret
        self.payload = payload
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.timeout = timeout
        self.allow_private = allow_private
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.on_failure: list[Callable[[bool], None]] = []  # listeners(final) of each failed attempt: metrics

    def start(self) -> None:
        self._stopping = False
        for record in self.store.list(limit=1000):
            state = record.webhook.get("state")
            if record.webhook_url and record.status.finished and state in (None, "pending"):
                self._schedule(record.id, time.time())
        self._thread = threading.Thread(target=self._loop, name="easel-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
            self._thread = None

    def on_finished(self, record: TaskRecord) -> None:
        """Queue listener: schedule the first attempt of a finished task that asked for a webhook."""
        if record.webhook_url:
            self.store.record_webhook(record.id, {"state": "pending", "attempts": []})
            self._schedule(record.id, time.time())

    def _schedule(self, task_id: str, due: float) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, task_id))
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._heap or self._heap[0][0] > time.time()):
                    self._cond.wait(timeout=(self._heap[0][0] - time.time()) if self._heap else 1.0)
                if self._stopping:
                    return
                _, _, task_id = heapq.heappop(self._heap)
            self._attempt(task_id)

    def _attempt(self, task_id: str) -> None:
        record = self.store.get(task_id)
        if record is None or not record.webhook_url:
            return
        state = dict(record.webhook or {})
        attempts = list(state.get("attempts", []))
        number = len(attempts) + 1
        body = json.dumps(self.payload(record), separators=(",", ":")).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "Easel-Webhook/1",
                   "X-Easel-Task-Id": record.id, "X-Easel-Timestamp": timestamp, "X-Easel-Attempt": str(number),
                   "X-Easel-Signature": webhook_signature(self.secret, timestamp, body)}
        entry: dict = {"attempt": number, "at": time.time(), "status_code": None, "error": None}
        started = time.perf_counter()
        try:
            address = checked_address(record.webhook_url, self.allow_private)
            response = pinned_post(record.webhook_url, address, content=body, headers=headers, timeout=self.timeout)
            entry["status_code"] = response.status_code
            ok = 200 <= response.status_code < 300
            if not ok:
                entry["error"] = f"HTTP {response.status_code}"
        except (httpx.HTTPError, InvalidRequestError) as e:
            ok = False
            entry["error"] = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
        entry["duration"] = round(time.perf_counter() - started, 4)
        attempts.append(entry)
        if not ok:
            for listener in list(self.on_failure):
                listener(number >= self.max_attempts)
        if ok:
            state.update(state="delivered", attempts=attempts)
        elif number >= self.max_attempts:
            state.update(state="failed", attempts=attempts)
            logger.warning("webhook for task %s failed after %d attempts", task_id, number)
        else:
            delay = min(300.0, self.backoff * 2 ** (number - 1))
            state.update(state="pending", attempts=attempts, next_attempt_at=time.time() + delay)
            self._schedule(task_id, time.time() + delay)
        self.store.record_webhook(task_id, state)
