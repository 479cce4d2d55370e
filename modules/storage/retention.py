"""Retention: a background sweep that deletes stored outputs older than their period.

Task results (the "tasks" prefix, `--outputs-retention-days`) are swept by their task records: a record that
finished before the cutoff has its stored objects deleted (its image keys and everything under
tasks/<id>/ and inputs/<id>/), its base64 request inputs scrubbed, its image keys emptied and `purged_at`
set; the summary, info and error stay, and links to its images answer 410 Gone. Other prefixes
(`--outputs-retention "prefix=days,..."`) are swept by object age (the store's modification time). For
buckets with millions of objects, a lifecycle rule in the store does the per-object part better
(docs/storage.md has the recipe); the record side still needs this sweep.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from modules.errors import EaselError, GoneError, InvalidRequestError, NotFoundError
from modules.storage.base import Storage, normalize_prefix

logger = logging.getLogger(__name__)

DAY = 86400.0
TASKS_PREFIX = "tasks"
INPUTS_PREFIX = "inputs"
PURGED = "<deleted after the retention period>"
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")
_INLINE_MIN = 256  # shorter strings are never inline images
_TASK_KEY = re.compile(rf"^{TASKS_PREFIX}/([^/]+)/")


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep objects per prefix; "tasks" covers task results and their records."""

    days: dict[str, float] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return any(d > 0 for d in self.days.values())

    @classmethod
    def from_flags(cls, task_days: float = 0.0, spec: str = "") -> RetentionPolicy:
        """`--outputs-retention-days D` (the tasks prefix) plus `--outputs-retention "p=d,..."` (overrides)."""
        days: dict[str, float] = {}
        if task_days and task_days < 0:
            raise InvalidRequestError("--outputs-retention-days must be >= 0", field="--outputs-retention-days")
        if task_days:
            days[TASKS_PREFIX] = float(task_days)
        for item in filter(None, (part.strip() for part in (spec or "").split(","))):
            prefix, sep, value = item.rpartition("=")
            try:
                number = float(value)
                prefix = normalize_prefix(prefix)
            except (ValueError, EaselError):
                number, prefix = -1.0, ""
            if not sep or not prefix or number < 0:
                raise InvalidRequestError(f"--outputs-retention: {item!r} is not prefix=days (days >= 0)",
                                          field="--outputs-retention")
            days[prefix] = number
        return cls({p: d for p, d in days.items() if d > 0})


def scrub_inputs(value: Any) -> Any:
    """A copy of request params with inline images (base64 strings, data: URLs) replaced by a marker."""
    if isinstance(value, dict):
        return {k: scrub_inputs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_inputs(v) for v in value]
    if isinstance(value, str) and len(value) >= _INLINE_MIN and (
            value.startswith("data:") or _BASE64.match(value[:4096])):
        return PURGED
    return value


@dataclass
class SweepReport:
    tasks: int = 0  # task records purged
    objects: int = 0  # objects deleted (task results and by age)
    by_prefix: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class RetentionSweeper:
    """Runs `sweep()` every `interval` seconds in a daemon thread (first sweep at start)."""

    def __init__(self, storage: Storage, task_store, policy: RetentionPolicy, interval: float = 3600.0,
                 batch: int = 200):
        self.storage = storage
        self.task_store = task_store
        self.policy = policy
        self.interval = max(0.1, float(interval))
        self.batch = batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def sweep(self, now: float | None = None) -> SweepReport:
        """One pass; storage errors are logged and left for the next pass (nothing is marked purged whose
        objects could not be deleted)."""
        now = time.time() if now is None else now
        report = SweepReport()
        with self._lock:
            days = self.policy.days.get(TASKS_PREFIX)
            if days and self.task_store is not None:
                self._sweep_tasks(now - days * DAY, now, report)
            for prefix, days in self.policy.days.items():
                if prefix != TASKS_PREFIX:
                    self._sweep_prefix(prefix, now - days * DAY, report)
        if report.tasks or report.objects or report.errors:
            logger.info("retention: purged %d task records, deleted %d objects %s%s", report.tasks, report.objects,
                        report.by_prefix, f"; errors: {report.errors}" if report.errors else "")
        return report

    def _sweep_tasks(self, cutoff: float, now: float, report: SweepReport) -> None:
        while True:
            records = self.task_store.list_purgeable(cutoff, self.batch)
            for record in records:
                try:
                    deleted = self._delete_task_objects(record)
                except EaselError as e:
                    report.errors.append(f"task {record.id}: {e.message}")
                    return
                params = scrub_inputs(record.params) if record.params is not None else None
                self.task_store.mark_purged(record.id, params=params, purged_at=now)
                report.tasks += 1
                report.objects += deleted
                report.by_prefix[TASKS_PREFIX] = report.by_prefix.get(TASKS_PREFIX, 0) + deleted
            if len(records) < self.batch:
                return

    def _delete_task_objects(self, record) -> int:
        deleted = 0
        folder = f"{TASKS_PREFIX}/{record.id}"
        for key in record.images:
            if not key.startswith(folder + "/") and self.storage.exists(key):
                self.storage.delete(key)
                deleted += 1
        deleted += self.storage.delete_prefix(folder)
        deleted += self.storage.delete_prefix(f"{INPUTS_PREFIX}/{record.id}")
        return deleted

    def _sweep_prefix(self, prefix: str, cutoff: float, report: SweepReport) -> None:
        try:
            old = [info.key for info in self.storage.list(prefix) if info.mtime < cutoff]
            for key in old:
                self.storage.delete(key)
        except EaselError as e:
            report.errors.append(f"{prefix}: {e.message}")
            return
        if old:
            report.objects += len(old)
            report.by_prefix[prefix] = report.by_prefix.get(prefix, 0) + len(old)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except EaselError as e:
                logger.error("retention sweep failed: %s", e.message)
            self._stop.wait(self.interval)

    def start(self) -> None:
        if self._thread is None and self.policy.enabled:
            logger.info("retention: %s, sweeping every %.0f s", ", ".join(
                f"{p}/ after {d:g} days" for p, d in sorted(self.policy.days.items())), self.interval)
            self._thread = threading.Thread(target=self._loop, name="easel-retention", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


def missing_object_error(task_store, key: str, error: NotFoundError) -> EaselError:
    """What a link to a missing object answers: 410 Gone when retention deleted it, else the 404."""
    match = _TASK_KEY.match(key)
    record = task_store.get(match.group(1)) if match and task_store is not None else None
    if record is not None and record.purged_at:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(record.purged_at))
        return GoneError(f"stored object {key!r} was deleted after the retention period ({when})", field="key")
    return error
