"""The embedded task queue: in process, every transition recorded in the task store so a restart loses nothing.
Workers (modules/tasks/worker.py) claim jobs from it on their own threads. Order: priority levels, round robin
between users, each user's tasks first in first out (modules/tasks/scheduling.py); one user at one priority is
plain FIFO. A user at their `running_limit` (max_running_jobs, modules/users) is passed over until one of their
tasks ends."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from modules.errors import NotFoundError, QueueFullError
from modules.step_control import StepControl
from modules.tasks.common import TaskProgress, TaskStatus
from modules.tasks.dead_letter import should_retry
from modules.tasks.queue_base import FinishedListener, Job, Preview, TaskQueue
from modules.tasks.scheduling import FairQueue, Level, Waiting, choose, user_key
from modules.tasks.store_base import TaskRecord, TaskStore

logger = logging.getLogger(__name__)
CRASHED_TWICE = ("the server stopped twice while this task was running (crash or kill); it was re-queued once "
                 "and is not retried again")
CANCELLED_WAITING = "cancelled before it started"
CANCELLED_RUNNING = "cancelled while running"


class _Running:
    """A job this process runs, with the latest latents for the live preview (kept in memory only)."""

    def __init__(self, job: Job, seq: int = 0):
        self.job = job
        self.seq = seq  # its place in its user's queue, kept when a failure re-queues it
        self.latents: Any = None
        self.preview_id = 0
        self.preview_cache: Preview | None = None


class InProcessTaskQueue(TaskQueue):
    def __init__(self, store: TaskStore, max_waiting: int = 64, max_delivery: int = 1):
        self.store = store
        self.max_waiting = max_waiting
        self.max_delivery = max_delivery
        self.task_timeout: float = 0.0
        self.on_finished: list[FinishedListener] = []
        self._waiting = FairQueue()
        self._running: dict[str, _Running] = {}
        self._cond = threading.Condition()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future]]] = {}
        self._durations: deque[float] = deque(maxlen=20)
        self._stopping = False
        # per-user max_running_jobs (modules/users sets it): a user at the limit is passed over until a task ends
        self.running_limit: Callable[[str | None], int | None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._recover()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _recover(self) -> None:
        """A stored task is simply queued again; one left running by a crash is re-queued once."""
        queued = 0
        for record in self.store.list_unfinished():
            with self._cond:
                if record.id in self._waiting or record.id in self._running:
                    continue
            if record.cancel_requested:
                self._finish(record.id, TaskStatus.CANCELLED, error="cancelled; the server stopped before it ended")
                continue
            if record.payload is None:
                self._finish(record.id, TaskStatus.FAILED,
                             error="cannot resume after restart: the task was stored without its input")
                continue
            if record.status == TaskStatus.RUNNING:
                if record.runs >= 2:
                    self._finish(record.id, TaskStatus.FAILED, error=CRASHED_TWICE)
                    continue
                logger.warning("task %s was running when the server stopped: re-queued once", record.id)
                self.store.requeue(record.id)
            with self._cond:
                self._waiting.push(self._entry(record))
                queued += 1
                self._cond.notify_all()
        logger.info("task queue: %d tasks waiting after recovery", queued)

    # -- submitting side -----------------------------------------------------------------------------------------
    def retry_after(self) -> int:
        average = sum(self._durations) / len(self._durations) if self._durations else 5.0
        return int(min(3600, max(1, round(average * (len(self._waiting) + 1)))))

    def submit(self, record: TaskRecord) -> TaskRecord:
        with self._cond:
            if len(self._waiting) >= self.max_waiting:
                raise QueueFullError(f"the queue is full ({len(self._waiting)} tasks waiting); try again later",
                                     retry_after=self.retry_after())
            record.status = TaskStatus.WAITING
            self.store.create(record)
            self._waiting.push(self._entry(record))
            self._cond.notify_all()
        return record

    def _entry(self, record: TaskRecord, seq: int | None = None) -> Waiting:
        return Waiting(record.id, user_key(record.user), record.priority or "normal", record.model,
                       seq if seq is not None else self._waiting.next_seq(), record.created_at)

    async def _finished_or(self, task_id: str, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cond:
            self._waiters.setdefault(task_id, []).append((loop, future))
        try:
            # A task this process runs is announced by _finish; poll slowly anyway (another process may end it).
            await asyncio.wait_for(asyncio.shield(future), timeout=max(seconds, 1.0) if self._known(task_id) else seconds)
        except TimeoutError:
            pass
        finally:
            with self._cond:
                entries = self._waiters.get(task_id, [])
                if (loop, future) in entries:
                    entries.remove((loop, future))
                if not entries:
                    self._waiters.pop(task_id, None)

    def _known(self, task_id: str) -> bool:
        """Whether this process will see the task finish (then waiting needs no store polling)."""
        with self._cond:
            return task_id in self._running or task_id in self._waiting

    def cancel(self, task_id: str) -> TaskRecord:
        with self._cond:
            self._waiting.remove(task_id)
            running = self._running.get(task_id)
        if running is not None:
            self.store.request_cancel(task_id)
            running.job.control.interrupted = True
        else:
            record = self.store.get(task_id)
            if record is None:
                raise NotFoundError(f"task {task_id!r} not found", field="task_id")
            if record.status == TaskStatus.WAITING:  # here, or recorded by another process
                self._finish(task_id, TaskStatus.CANCELLED, error=CANCELLED_WAITING)
            elif record.status == TaskStatus.RUNNING:  # in another process: it stops when that one checks
                self.store.request_cancel(task_id)
        record = self.store.get(task_id)
        assert record is not None
        return record

    def _live(self, task_id: str | None) -> _Running | None:
        with self._cond:
            if task_id:
                return self._running.get(task_id)
            return next(iter(self._running.values()), None)

    def interrupt(self, task_id: str | None = None) -> str | None:
        live = self._live(task_id)
        if live is None:
            return None
        self.store.request_cancel(live.job.id)  # recorded: it stays cancelled even if the process dies now
        live.job.control.interrupted = True
        return live.job.id

    def skip(self, task_id: str | None = None) -> str | None:
        live = self._live(task_id)
        if live is None:
            return None
        live.job.control.skipped = True
        return live.job.id

    def pending(self) -> list[TaskRecord]:
        with self._cond:
            ids = self._waiting.ids()
        records = (self.store.get(task_id) for task_id in ids)
        return [r for r in records if r is not None and r.status == TaskStatus.WAITING]

    def running(self) -> list[TaskRecord]:
        with self._cond:
            return [r.job.record for r in self._running.values()]

    def progress(self, task_id: str) -> TaskProgress | None:
        live = self._live(task_id)
        return live.job.progress.copy() if live is not None else None

    def preview(self, task_id: str, fmt: str = "png") -> Preview | None:
        live = self._live(task_id)
        if live is None or live.latents is None:
            return None
        cached = live.preview_cache
        if cached is not None and cached.id == live.preview_id and cached.fmt == fmt:
            return cached
        from modules.engine.preview import latent_preview_base64  # torch: only where a worker runs

        preview = Preview(live.preview_id, latent_preview_base64(live.latents, live.job.progress.preview_family, fmt),
                          fmt)
        live.preview_cache = preview
        return preview

    def workers(self) -> list[dict]:
        return []  # the workers describe themselves (modules/tasks/worker.py); services lists them

    # -- working side --------------------------------------------------------------------------------------------
    def claim(self, worker: str, timeout: float) -> Job | None:
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._cond.wait(timeout=left)
                if self._stopping:
                    return None
                entry = self._waiting.take(self._chooser())
                if entry is None:  # every waiting user is at their running limit: wait for a task to end
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._cond.wait(timeout=left)
                    continue
                task_id = entry.id
            started = time.time()
            record = self.store.mark_running(task_id, started)
            if record is None:  # cancelled meanwhile, or run by another process
                continue
            job = Job(record=record, control=StepControl(), progress=TaskProgress(started_at=started),
                      publish=self._publish)
            with self._cond:
                self._running[task_id] = _Running(job, entry.seq)
            return job

    def _chooser(self) -> Callable[[dict[str, Level]], Waiting | None]:
        """The scheduler's choice, passing over the users at their running limit (call with the lock held)."""
        if self.running_limit is None:
            return choose
        running = Counter(user_key(live.job.record.user) for live in self._running.values())
        waiting_users = {user for level in self._waiting.levels.values() for user in level.users}
        blocked = {user for user in waiting_users
                   if (limit := self.running_limit(user or None)) is not None and running[user] >= limit}
        return lambda levels: choose(levels, blocked=blocked)

    def _publish(self, job: Job, latents: Any) -> None:
        live = self._running.get(job.id)
        if live is not None and latents is not None:
            live.latents = latents
            live.preview_id += 1

    def complete(self, job: Job, status: TaskStatus, *, images: list[str] | None = None, info: Any = None,
                 error: str | None = None, error_code: int | None = None) -> TaskRecord | None:
        with self._cond:
            live = self._running.pop(job.id, None)
            self._cond.notify_all()  # a user below their running limit again may have waiting tasks
        self._durations.append(time.time() - (job.record.started_at or time.time()))
        if should_retry(status, error_code, job.record.runs, self.max_delivery) and self._retry(job, live):
            return self.store.get(job.id)
        return self._finish(job.id, status, images=images, info=info, error=error, error_code=error_code)

    def _retry(self, job: Job, live: _Running | None) -> bool:
        """Back to its place in the queue after a failed run (`--max-delivery` > 1); False when a cancel came."""
        self.store.requeue(job.id)
        record = self.store.get(job.id)
        if record is None or record.status != TaskStatus.WAITING:
            return False
        logger.warning("task %s failed on run %d of at most %d: queued again", job.id, job.record.runs,
                       self.max_delivery)
        with self._cond:
            self._waiting.push(self._entry(record, live.seq if live is not None else None))
            self._cond.notify_all()
        return True

    def _finish(self, task_id: str, status: TaskStatus, *, images: list[str] | None = None, info: Any = None,
                error: str | None = None, error_code: int | None = None) -> TaskRecord | None:
        item = self.store.finish(task_id, status, images=images, info=info, error=error, error_code=error_code,
                                 finished_at=time.time())
        record = self.store.get(task_id)
        with self._cond:
            waiters = self._waiters.pop(task_id, [])
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)
        if item is None or record is None:
            return record
        for listener in list(self.on_finished):
            try:
                listener(record)
            except Exception:  # noqa: BLE001 - a listener (webhooks, metrics) must not fail the task
                logger.exception("finished-task listener failed for %s", task_id)
        return record


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
