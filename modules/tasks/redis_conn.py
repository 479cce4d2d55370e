"""Connecting to Redis (`--redis-url redis://[:password@]host:port/db` or `EASEL_REDIS_URL`) and the key names
every Easel process shares. One Redis primary (with AOF, optionally a replica or Sentinel); Redis Cluster is not
supported: the scripts touch keys they compute."""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from modules.errors import InvalidRequestError, QueueUnavailableError

T = TypeVar("T")
DEFAULT_PREFIX = "easel:"


def redacted(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def connect(url: str):
    """A thread-safe client (a connection pool) answering str; a clear 422 for a malformed URL."""
    import redis

    if urlsplit(url or "").scheme not in ("redis", "rediss", "unix"):
        raise InvalidRequestError(f"--redis-url: expected redis://host:port/db, got {redacted(url)!r}",
                                  field="--redis-url")
    try:
        return redis.Redis.from_url(url, decode_responses=True, socket_keepalive=True, health_check_interval=30,
                                    socket_connect_timeout=5, retry_on_timeout=True)
    except ValueError as e:
        raise InvalidRequestError(f"--redis-url: {e}", field="--redis-url") from e


def unavailable(url: str, error: Exception) -> QueueUnavailableError:
    return QueueUnavailableError(f"the task queue at {redacted(url)} cannot be reached ({type(error).__name__}); "
                                 "try again shortly")


def translate_errors(cls: type[T]) -> type[T]:
    """Wrap the public methods of a Redis-backed class: a lost connection becomes QueueUnavailableError (503)."""
    import redis

    lost = (redis.ConnectionError, redis.TimeoutError)

    def wrap(fn: Callable) -> Callable:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(self, *args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(self, *args, **kwargs)
                except lost as e:
                    raise unavailable(self.url, e) from e
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except lost as e:
                raise unavailable(self.url, e) from e
        return wrapper

    for name, value in list(vars(cls).items()):
        if inspect.isfunction(value) and not name.startswith("_"):
            setattr(cls, name, wrap(value))
    return cls


class Keys:
    """Every key and channel name, under one prefix (several deployments can share a Redis with their own)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX):
        self.prefix = prefix

    def __call__(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def task(self, task_id: str) -> str:
        return self("task", task_id)
