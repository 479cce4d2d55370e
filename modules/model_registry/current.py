"""Keeps `sd_model_checkpoint` naming a checkpoint that exists.

When a rescan no longer finds the selected checkpoint (deleted or moved, e.g. through the FileBrowser), the option
would name a missing file and every generation would fail. After each rescan the option is checked: a moved file
(same sha256, found under another name) is followed, otherwise the first checkpoint is selected. The switch is
logged and kept as a notice the WebUI shows; it is saved to config.json. The new checkpoint is loaded by the next
generation (the lock of a running job is never waited for here).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

from modules.errors import ModelNotFoundError

logger = logging.getLogger(__name__)
_HASH_IN_TITLE = re.compile(r"\[([0-9a-f]{10})\]\s*$")


@dataclass(frozen=True)
class Notice:
    serial: int
    at: float
    message: str
    previous: str
    current: str | None


class CurrentCheckpoint:
    def __init__(self, options, checkpoints):
        self.options = options
        self.checkpoints = checkpoints
        self._lock = threading.Lock()
        self.notice: Notice | None = None

    def ensure(self) -> Notice | None:
        """Check the selected checkpoint against the registry; switch (and say so) when it is gone."""
        if self.options.is_pending("sd_model_checkpoint"):
            return None  # a new value is being applied (and may be refused): only a committed one is checked
        wanted = self.options.get("sd_model_checkpoint") or ""
        if not wanted:
            return None
        try:
            self.checkpoints.get(wanted)
            return None
        except ModelNotFoundError:
            pass
        replacement, how = self._replacement(wanted)
        with self._lock:
            if (self.options.get("sd_model_checkpoint") or "") != wanted:
                return None  # changed meanwhile
            title = replacement.title if replacement is not None else ""
            self.options.data["sd_model_checkpoint"] = title  # no listener: nothing is loaded or waited for here
            self.options.save()
            if replacement is None:
                message = f"Checkpoint {wanted} was removed and no other checkpoint is installed."
            elif how == "moved":
                message = f"Checkpoint {wanted} was moved: now {title}."
            else:
                message = f"Checkpoint {wanted} was removed; switched to {title}."
            serial = self.notice.serial + 1 if self.notice is not None else 1
            self.notice = Notice(serial, time.time(), message, wanted, replacement.title if replacement else None)
        logger.warning(message)
        return self.notice

    def _replacement(self, wanted: str):
        match = _HASH_IN_TITLE.search(wanted)
        items = self.checkpoints.list()
        if match:
            moved = next((info for info in items if info.shorthash == match.group(1)), None)
            if moved is not None:
                return moved, "moved"
        return (items[0], "first") if items else (None, "none")
