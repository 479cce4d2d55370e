"""Bounded retries with exponential backoff for object-store calls, and the one error a dead store becomes.

Each backend gives a `classify(exc)` that says what an exception means: an EaselError to raise at once
(NotFoundError, refused credentials), a reason string for a transient failure worth retrying (connection
refused, timeout, 5xx, throttling), or None for an exception that is not the store's (re-raised as is).
"""
from __future__ import annotations

import io
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from modules.errors import EaselError, StorageUnavailableError

logger = logging.getLogger(__name__)
T = TypeVar("T")
Classifier = Callable[[BaseException], "EaselError | str | None"]


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries per call (1 = no retry), waiting `backoff` seconds after the first failure and twice as
    long after each next one (capped at `max_backoff`, with up to 25% jitter); `timeout` bounds each network
    call (connect and each read) in seconds."""

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 4.0
    timeout: float = 30.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return base * (1 + random.random() * 0.25)


def call_with_retries(fn: Callable[[], T], *, policy: RetryPolicy, classify: Classifier, store: str,
                      action: str) -> T:
    """`fn()`, retried on transient failures; StorageUnavailableError naming `store` once attempts run out."""
    reason = ""
    for attempt in range(1, max(1, policy.attempts) + 1):
        try:
            return fn()
        except EaselError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified below; anything unknown is re-raised
            verdict = classify(exc)
            if verdict is None:
                raise
            if isinstance(verdict, EaselError):
                raise verdict from exc
            reason = verdict
        if attempt < policy.attempts:
            wait = policy.delay(attempt)
            logger.warning("%s: %s failed (%s); retry %d/%d in %.2fs", store, action, reason, attempt,
                           policy.attempts - 1, wait)
            time.sleep(wait)
    raise StorageUnavailableError(f"{store} is unavailable: {action} failed after {policy.attempts} attempts "
                                  f"({reason})")


class GuardedStream(io.RawIOBase):
    """A backend's response body whose read errors become StorageUnavailableError (a store that dies while
    an object streams out is reported like one that is down)."""

    def __init__(self, raw, *, classify: Classifier, store: str, key: str):
        super().__init__()
        self._raw = raw
        self._classify = classify
        self._store = store
        self._key = key

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._raw.read() if size is None or size < 0 else self._raw.read(size)
        except EaselError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified like a failed call
            verdict = self._classify(exc)
            if verdict is None:
                raise
            if isinstance(verdict, EaselError):
                raise verdict from exc
            raise StorageUnavailableError(f"{self._store} is unavailable: reading {self._key!r} broke off "
                                          f"({verdict})") from exc
        return bytes(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
