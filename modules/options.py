"""Persistent options with A1111 keys, stored in config.json in the data dir.

Every value is validated by type and range when it is set (API, WebUI, override_settings) and when config.json is
loaded (an invalid stored value is dropped with a warning, so the option falls back to its default). NaN and
infinities are never valid; path-valued options (`kind="path"`) are confined to the data dir. Options `pinned`
from flags (the security settings) cannot be changed at all at run time and are ignored in config.json.
"""
from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.errors import EaselError, InvalidRequestError

logger = logging.getLogger(__name__)
MAX_TEXT_CHARS = 4096
MAX_LIST_ITEMS = 256


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
    kind: str | None = None  # "path": a folder confined to the data dir (the outdir_* options)


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
    pinned: dict[str, tuple[Any, str]] = field(default_factory=dict)  # key -> (value, the flag that sets it)
    _listeners: dict[str, list[Callable[[Any, Any], None]]] = field(default_factory=dict)
    _pending: set[str] = field(default_factory=set)  # keys whose listeners are running (see is_pending)
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
        if not isinstance(stored, dict):
            logger.error("config.json does not hold an object; started from defaults")
            return
        with self._lock:
            # Unknown keys are kept (extensions may add their options later, checked then), as A1111 does.
            self.data.update({key: value for key, value in stored.items() if self._loadable(key, value)})

    def _loadable(self, key: str, value: Any) -> bool:
        """Whether a stored value may be used; a warning names each one that is dropped."""
        if key in self.pinned:
            logger.warning("config.json: ignoring %r: it is set by the flag %s only", key, self.pinned[key][1])
            return False
        if key not in self.table:
            return True
        try:
            self.validate(key, value, is_api=False)
        except EaselError as e:
            logger.warning("config.json: %s; %r is reset to its default %r", e.message, key, self.table[key].default)
            return False
        return True

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
            if key in self.data and not self._loadable(key, self.data[key]):
                del self.data[key]

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
        with self._lock:
            if key in self.pinned:  # set by a flag: neither a job's overlay nor the API changes it
                return self.pinned[key][0]
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
        if key.startswith("_") or key in ("table", "path", "data", "pinned"):
            raise AttributeError(key)
        try:
            return self.get(key)
        except KeyError:
            raise AttributeError(key) from None

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {key: self.get(key) for key in self.table} | {
                k: v for k, v in self.data.items() if k not in self.table
            }

    def validate(self, key: str, value: Any, *, is_api: bool = True) -> Any:
        """Check a value for `key` and return it coerced to the option's type; raise naming the key."""
        info = self.table.get(key)
        if info is None:
            raise InvalidRequestError(f"unknown option {key!r}", field=key)
        if key in self.pinned:
            pinned, flag = self.pinned[key]
            if value != pinned:
                raise InvalidRequestError(f"option {key!r} is a security setting: only the flag {flag} changes it",
                                          field=key)
            return pinned
        if is_api and info.restrict_api:
            raise InvalidRequestError(f"option {key!r} can only be changed in config.json or by flag", field=key)
        value = _check_type(key, info, value)
        if info.kind == "path" and value:
            self._confine(key, value)
        choices = info.choices() if callable(info.choices) else info.choices
        if choices is not None and value not in choices:
            raise InvalidRequestError(f"option {key!r} must be one of {choices}, got {value!r}", field=key)
        return value

    def _confine(self, key: str, value: str) -> None:
        """A folder option must name a folder inside the data dir (config.json's folder)."""
        if self.path is None:
            return
        from modules.path_guard import PathGuard
        from modules.paths import private_paths

        root = self.path.parent
        PathGuard(root, protected=private_paths(root)).resolve(value, field=key)

    def set(self, key: str, value: Any, *, is_api: bool = True, run_callbacks: bool = True) -> bool:
        """Set an option. Returns True if the value changed. Listeners run after the change."""
        value = self.validate(key, value, is_api=is_api)
        with self._lock:
            old = self.get(key)
            if old == value:
                return False
            self.data[key] = value
        if run_callbacks:
            self._pending.add(key)
            try:
                for listener in self._listeners.get(key, []):
                    try:
                        listener(old, value)
                    except Exception:
                        with self._lock:
                            self.data[key] = old
                        raise
            finally:
                self._pending.discard(key)
        return True

    def is_pending(self, key: str) -> bool:
        """True while `set` runs the listeners of `key`: its value may still be undone (a listener refusing it)."""
        return key in self._pending

    def on_change(self, key: str, listener: Callable[[Any, Any], None]) -> None:
        """Call `listener(old, new)` when `key` changes through `set`; if it raises, the change is undone."""
        self._listeners.setdefault(key, []).append(listener)


def _check_type(key: str, info: OptionInfo, value: Any) -> Any:
    """`value` checked against the type of the option's default (and its range); NaN and infinities refused."""
    default = info.default
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InvalidRequestError(f"option {key!r} must be true or false, got {value!r}", field=key)
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidRequestError(f"option {key!r} must be a number, got {value!r}", field=key)
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequestError(f"option {key!r} must be a finite number, got {value!r}", field=key)
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise InvalidRequestError(f"option {key!r} must be a whole number, got {value!r}", field=key)
            value = int(value)
        low, high = info.minimum, info.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            raise InvalidRequestError(f"option {key!r} must be between {low} and {high}, got {value!r}", field=key)
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise InvalidRequestError(f"option {key!r} must be a string, got {value!r}", field=key)
        if len(value) > MAX_TEXT_CHARS:
            raise InvalidRequestError(f"option {key!r} is longer than {MAX_TEXT_CHARS} characters", field=key)
        return value
    if isinstance(default, list):
        if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
            raise InvalidRequestError(f"option {key!r} must be a list of at most {MAX_LIST_ITEMS} items, "
                                      f"got {value!r}", field=key)
        if all(isinstance(item, str) for item in default) and not all(isinstance(v, str) for v in value):
            raise InvalidRequestError(f"option {key!r} must be a list of strings, got {value!r}", field=key)
        return value
    return value
