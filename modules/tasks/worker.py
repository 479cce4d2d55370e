"""A worker: claims jobs from a TaskQueue and runs each with the handler registered for its kind.

One worker per device, each on its own thread. It owns the per-task timeout, writes progress to the store while
a job runs (so every process sees it), and decides the final status from the job's stop flags.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modules.errors import EaselError
from modules.tasks.common import TaskStatus
from modules.tasks.queue_base import Job, TaskQueue
from modules.tasks.usage import UsageMeter

logger = logging.getLogger(__name__)
_current = threading.local()


@dataclass
class Outcome:
    """What a handler returns: the storage keys of the results (already written) and the info JSON."""

    images: list[str] = field(default_factory=list)
    info: Any = None


Handler = Callable[[Job], Outcome]


class HandlerRegistry:
    """Task kind -> the function that runs it (txt2img, img2img, extras, ...)."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def get(self, kind: str) -> Handler:
        handler = self._handlers.get(kind)
        if handler is None:
            raise EaselError(f"no handler for tasks of kind {kind!r} in this worker")
        return handler

    @property
    def kinds(self) -> list[str]:
        return list(self._handlers)


def current_job() -> Job | None:
    """The job the calling thread runs (A1111's shared.state and process_images read it), or None."""
    return getattr(_current, "job", None)


class Worker:
    def __init__(self, queue: TaskQueue, handlers: HandlerRegistry, name: str = "easel-worker-0", *,
                 progress_interval: float = 0.5, poll: float = 1.0, on_thread_start: Callable[[], None] | None = None):
        self.queue = queue
        self.handlers = handlers
        self.name = name
        self.on_thread_start = on_thread_start  # e.g. bind the A1111 facade of this worker's server
        self.progress_interval = progress_interval
        self.poll = poll
        self.job: Job | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        job = self.job
        if job is not None:  # the running task is left running in the store: the next start re-queues it
            job.control.interrupted = True
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def describe(self) -> dict:
        job = self.job
        return {"name": self.name, "state": "busy" if job else "idle", "task": job.id if job else None,
                "kinds": self.handlers.kinds, "alive": bool(self._thread and self._thread.is_alive())}

    def _loop(self) -> None:
        if self.on_thread_start is not None:
            self.on_thread_start()
        while not self._stopping.is_set():
            job = self.queue.claim(self.name, timeout=self.poll)
            if job is not None:
                self.run(job)

    def run(self, job: Job) -> None:
        """Run one claimed job to its end and record the outcome."""
        self.job = job
        _current.job = job
        timeout = self.queue.task_timeout
        timer = threading.Timer(timeout, self._time_out, args=(job,)) if timeout > 0 else None
        flushed = threading.Event()
        flusher = threading.Thread(target=self._flush_progress, args=(job, flushed), daemon=True)
        flusher.start()
        if timer is not None:
            timer.start()
        outcome, error = Outcome(), None
        meter = UsageMeter()
        try:
            outcome = self.handlers.get(job.record.kind)(job)
        except Exception as e:  # noqa: BLE001 - the error belongs to the task's record and its caller
            error = e
            if not isinstance(e, EaselError):
                logger.exception("task %s failed", job.id)
        finally:
            if timer is not None:
                timer.cancel()
            flushed.set()
            flusher.join()
            _current.job = None
            self.job = None
        if self._stopping.is_set() and error is None and job.control.interrupted and not job.timed_out:
            self.queue.release(job)  # stopped with the process: handed back (embedded: re-queued on the next start)
            return
        self._record_usage(job, meter)
        status, message = self._status(job, error)
        code = error.status_code if isinstance(error, EaselError) else (500 if error is not None else None)
        self.queue.complete(job, status, images=outcome.images, info=outcome.info, error=message, error_code=code)

    def _record_usage(self, job: Job, meter: UsageMeter) -> None:
        try:
            self.queue.store.record_usage(job.id, meter.stop(job.usage))
        except NotImplementedError:
            logger.debug("the task store keeps no usage; task %s not charged", job.id)

    def _status(self, job: Job, error: Exception | None) -> tuple[TaskStatus, str | None]:
        if error is not None:
            return TaskStatus.FAILED, getattr(error, "message", None) or str(error) or type(error).__name__
        if job.timed_out:
            return TaskStatus.FAILED, f"timed out after {self.queue.task_timeout:g} s (worker timeout)"
        if job.control.interrupted:
            return TaskStatus.CANCELLED, "cancelled while running"
        return TaskStatus.SUCCEEDED, None

    def _time_out(self, job: Job) -> None:
        job.timed_out = True
        job.control.interrupted = True

    def _flush_progress(self, job: Job, stop: threading.Event) -> None:
        last = None
        while not stop.wait(self.progress_interval):
            state = job.progress.as_dict()
            if state != last:
                self.queue.store.set_progress(job.id, state["fraction"], state)
                last = state


def wait_until_idle(workers: list[Worker], timeout: float) -> bool:
    """True once no worker runs a job (used by graceful stops)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(w.job is None for w in workers):
            return True
        time.sleep(0.05)
    return False
