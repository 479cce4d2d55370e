"""Brute-force protection for logins: failed attempts are counted per user name and per client address inside a
sliding window; past the limit the key is locked out for a while (429 with Retry-After), and every address is
held to a rate of attempts with bad credentials. A success clears the user name's count."""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottleSettings:
    max_failures: int = 5  # failures of one user name inside `window` before it is locked
    window: float = 300.0  # seconds
    lockout: float = 300.0  # seconds a locked key stays locked
    address_max_failures: int = 20  # failures from one client address inside `window` (any names)


class LockedOut(Exception):
    def __init__(self, key: str, retry_after: int):
        super().__init__(f"{key} locked out")
        self.key, self.retry_after = key, retry_after


class LoginThrottle:
    def __init__(self, settings: ThrottleSettings | None = None, clock=time.monotonic):
        self.settings = settings or ThrottleSettings()
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(user: str | None, address: str | None) -> list[str]:
        return [k for k in (f"user:{user}" if user else None, f"addr:{address}" if address else None) if k]

    def check(self, keys: list[str]) -> None:
        """LockedOut when any key is locked now."""
        now = self._clock()
        with self._lock:
            for key in keys:
                until = self._locked_until.get(key, 0.0)
                if until > now:
                    raise LockedOut(key, max(1, math.ceil(until - now)))
                self._locked_until.pop(key, None)

    def failed(self, keys: list[str]) -> None:
        now = self._clock()
        settings = self.settings
        with self._lock:
            for key in keys:
                times = self._failures.setdefault(key, deque())
                times.append(now)
                while times and times[0] <= now - settings.window:
                    times.popleft()
                limit = settings.address_max_failures if key.startswith("addr:") else settings.max_failures
                if len(times) >= limit:
                    self._locked_until[key] = now + settings.lockout
                    times.clear()

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{user}", None)
