"""Persistent options with A1111 keys, stored in config.json in the data dir."""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.errors import InvalidRequestError

logger = logging.getLogger(__name__)


@dataclass
class OptionInfo:
    default: Any
    label: str = ""
    section: str = "other"
    choices: Callable[[], list[str]] | list[str] | None = None
    restrict_api: bool = False  # may only be changed in config.json or by flag
    minimum: float | None = None
    maximum: float | None = None
    infotext: str | None = None


@dataclass
class Options:
    """Option values over a table of `OptionInfo`, persisted to `path` when saved.

    A job's `override_settings` apply through `overlay()`: they are seen by `get` on the thread that runs the job
    (engine, scripts and extensions reading `shared.opts`), never by other threads, and the saved values are never
    touched, so a concurrent GET /sdapi/v1/options shows the saved values.
    """

    table: dict[str, OptionInfo]
    path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)
    _listeners: dict[str, list[Callable[[Any, Any], None]]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _local: threading.local = field(default_factory=threading.local)

    def load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            bad = self.path.with_suffix(".json.bad")
            self.path.replace(bad)
            logger.error("config.json was not valid JSON (%s); moved it to %s and started from defaults", e, bad)
            return
        with self._lock:
            # Unknown keys are kept (extensions may add their options later), as A1111 does.
            self.data.update(stored)

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(self.data, indent=4, ensure_ascii=False), encoding="utf-8")
            tmp.replace(self.path)

    def add_option(self, key: str, info: OptionInfo) -> None:
        """Register an option (extensions call this through shared.opts.add_option)."""
        with self._lock:
            self.table[key] = info

    @contextmanager
    def overlay(self, overrides: dict[str, Any]) -> Iterator[None]:
        """Within the block, on this thread, `get` answers `overrides` first (overlays nest)."""
        stack = self._local.__dict__.setdefault("stack", [])
        stack.append(dict(overrides))
        try:
            yield
        finally:
            stack.pop()

    def _overlaid(self, key: str) -> tuple[bool, Any]:
        for layer in reversed(self._local.__dict__.get("stack", ())):
            if key in layer:
                return True, layer[key]
        return False, None

    def get(self, key: str) -> Any:
        found, value = self._overlaid(key)
        if found:
            return value
        with self._lock:
            if key in self.data:
                return self.data[key]
            if key in self.table:
                return self.table[key].default
        raise KeyError(key)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_") or key in ("table", "path", "data"):
            raise AttributeError(key)
        try:
            return self.get(key)
        except KeyError:
            raise AttributeError(key) from None

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            saved = {key: self.data.get(key, info.default) for key, info in self.table.items()} | {
                k: v for k, v in self.data.items() if k not in self.table
            }
        for layer in self._local.__dict__.get("stack", ()):
            saved.update(layer)
        return saved

    def validate(self, key: str, value: Any, *, is_api: bool = True) -> Any:
        """Check a value for `key` and return it coerced to the option's type; raise naming the key."""
        info = self.table.get(key)
        if info is None:
            raise InvalidRequestError(f"unknown option {key!r}", field=key)
        if is_api and info.restrict_api:
            raise InvalidRequestError(f"option {key!r} can only be changed in config.json or by flag", field=key)
        default = info.default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise InvalidRequestError(f"option {key!r} must be true or false, got {value!r}", field=key)
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidRequestError(f"option {key!r} must be a number, got {value!r}", field=key)
            if isinstance(default, int) and float(value).is_integer():
                value = int(value)
            if info.minimum is not None and value < info.minimum or info.maximum is not None and value > info.maximum:
                raise InvalidRequestError(
                    f"option {key!r} must be between {info.minimum} and {info.maximum}, got {value!r}", field=key)
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise InvalidRequestError(f"option {key!r} must be a string, got {value!r}", field=key)
        elif isinstance(default, list) and not isinstance(value, list):
            raise InvalidRequestError(f"option {key!r} must be a list, got {value!r}", field=key)
        choices = info.choices() if callable(info.choices) else info.choices
        if choices is not None and value not in choices:
            raise InvalidRequestError(f"option {key!r} must be one of {choices}, got {value!r}", field=key)
        return value

    def set(self, key: str, value: Any, *, is_api: bool = True, run_callbacks: bool = True) -> bool:
        """Set an option. Returns True if the value changed. Listeners run after the change."""
        value = self.validate(key, value, is_api=is_api)
        with self._lock:
            old = self.get(key)
            if old == value:
                return False
            self.data[key] = value
        if run_callbacks:
            for listener in self._listeners.get(key, []):
                try:
                    listener(old, value)
                except Exception:
                    with self._lock:
                        self.data[key] = old
                    raise
        return True

    def on_change(self, key: str, listener: Callable[[Any, Any], None]) -> None:
        """Call `listener(old, new)` when `key` changes through `set`; if it raises, the change is undone."""
        self._listeners.setdefault(key, []).append(listener)
