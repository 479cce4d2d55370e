"""The embedded task queue: FIFO, in process, one worker thread per device, every transition recorded
in the task store so that a restart loses nothing."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from modules.errors import EaselError, NotFoundError, QueueFullError
from modules.tasks.common import Task, TaskStatus
from modules.tasks.queue_base import FinishedListener, TaskQueue
from modules.tasks.store_base import TaskRecord, TaskStore

logger = logging.getLogger(__name__)
CRASHED_TWICE = ("the server stopped twice while this task was running (crash or kill); it was re-queued once "
                 "and is not retried again")


def record_of(task: Task) -> TaskRecord:
    return TaskRecord(id=task.id, kind=task.kind, user=task.user, model=task.model, params=task.params,
                      summary=task.summary, idempotency_key=task.idempotency_key, webhook_url=task.webhook_url,
                      base_url=task.base_url, created_at=task.created_at)


class InProcessTaskQueue(TaskQueue):
    """Runs tasks one at a time in submission order on a background thread.

    `submit` returns at once; callers wait on `task.future` or read the store. `restorer` rebuilds a live task
    from a stored record after a restart (it raises EaselError when it cannot).
    """

    def __init__(self, store: TaskStore, max_waiting: int = 64, *, progress_interval: float = 0.5,
                 restorer: Callable[[TaskRecord], Task] | None = None):
        self.store = store
        self.max_waiting = max_waiting
        self.progress_interval = progress_interval
        self.restorer = restorer
        self.task_timeout: float = 0.0  # seconds; 0 = no limit (a worker setting, changeable at run time)
        self.on_finished: list[FinishedListener] = []
        self._waiting: deque[Task] = deque()
        self._live: dict[str, Task] = {}
        self._cond = threading.Condition()
        self._current: Task | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._durations: deque[float] = deque(maxlen=20)
        self.started_at = time.time()

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._recover()
        self._thread = threading.Thread(target=self._work, name="easel-worker-0", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            self._thread.join(timeout=30)
            self._thread = None

    def _recover(self) -> None:
        """Waiting records run again; a record left running was interrupted by a crash: re-queued once."""
        for record in self.store.list_unfinished():
            if record.id in self._live:
                continue
            if record.cancel_requested:  # cancelled while it ran, then the process died: stays cancelled
                self._finish_record(record.id, TaskStatus.CANCELLED, error="cancelled while running")
                continue
            if record.status == TaskStatus.RUNNING:
                if record.runs >= 2:
                    self._finish_record(record.id, TaskStatus.FAILED, error=CRASHED_TWICE)
                    continue
                logger.warning("task %s was running when the server stopped: re-queued once", record.id)
                self.store.requeue(record.id)
            try:
                if self.restorer is None:
                    raise EaselError("no restorer configured")
                task = self.restorer(record)
            except EaselError as e:
                self._finish_record(record.id, TaskStatus.FAILED, error=f"cannot resume after restart: {e.message}")
                continue
            task.created_at = record.created_at
            with self._cond:
                self._live[task.id] = task
                self._waiting.append(task)
        logger.info("task queue: %d tasks waiting after recovery", len(self._waiting))

    # -- submission and reads ------------------------------------------------------------------------------
    def retry_after(self) -> int:
        average = sum(self._durations) / len(self._durations) if self._durations else 5.0
        return int(min(3600, max(1, round(average * (len(self._waiting) + 1)))))

    def submit(self, task: Task) -> Task:
        with self._cond:
            if len(self._waiting) >= self.max_waiting:
                raise QueueFullError(f"the queue is full ({len(self._waiting)} tasks waiting); try again later",
                                     retry_after=self.retry_after())
            self.store.create(record_of(task))
            self._live[task.id] = task
            self._waiting.append(task)
            self._cond.notify_all()
        return task

    def get(self, task_id: str) -> Task | None:
        with self._cond:
            return self._live.get(task_id)

    @property
    def current(self) -> Task | None:
        return self._current

    def running(self) -> list[Task]:
        task = self._current
        return [task] if task is not None else []

    def pending(self) -> list[Task]:
        with self._cond:
            return list(self._waiting)

    def workers(self) -> list[dict]:
        task = self._current
        return [{"name": "easel-worker-0", "state": "busy" if task else "idle", "task": task.id if task else None,
                 "waiting": len(self._waiting), "queue_size": self.max_waiting, "timeout": self.task_timeout,
                 "alive": bool(self._thread and self._thread.is_alive())}]

    # -- cancellation --------------------------------------------------------------------------------------
    def cancel(self, task_id: str) -> TaskRecord:
        with self._cond:
            task = self._live.get(task_id)
            removed = task is not None and task.status == TaskStatus.WAITING and task in self._waiting
            if removed:
                self._waiting.remove(task)
                del self._live[task_id]
                task.status = TaskStatus.CANCELLED
                task.finished_at = time.time()
        if removed:  # gone from the queue at once
            self._finish_record(task_id, TaskStatus.CANCELLED, error="cancelled before it started")
            task.future.set_exception(_cancelled(task_id))
        elif task is not None:  # running (or being picked up): stops at its next step
            self.store.request_cancel(task_id)  # durable: a crash before it stops does not bring it back
            task.cancel_requested = True
            task.control.interrupted = True
        else:
            record = self.store.get(task_id)
            if record is None:
                raise NotFoundError(f"task {task_id!r} not found", field="task_id")
            if record.status == TaskStatus.WAITING:  # recorded but not live here (another process)
                self._finish_record(task_id, TaskStatus.CANCELLED, error="cancelled before it started")
        record = self.store.get(task_id)
        assert record is not None
        return record

    # -- the worker ----------------------------------------------------------------------------------------
    def _next(self) -> Task | None:
        with self._cond:
            while not self._waiting and not self._stopping:
                self._cond.wait(timeout=1.0)
            if self._stopping:
                return None
            return self._waiting.popleft()

    def _work(self) -> None:
        while (task := self._next()) is not None:
            started = time.time()
            if self.store.mark_running(task.id, started) is None:
                with self._cond:
                    self._live.pop(task.id, None)
                continue
            with task.lock:
                task.status = TaskStatus.RUNNING
                task.started_at = started
                task.future.set_running_or_notify_cancel()
            self._current = task
            self._run(task)
            self._current = None
            with self._cond:
                self._live.pop(task.id, None)

    def _run(self, task: Task) -> None:
        timer = threading.Timer(self.task_timeout, self._time_out, args=(task,)) if self.task_timeout > 0 else None
        stop_progress = threading.Event()
        flusher = threading.Thread(target=self._flush_progress, args=(task, stop_progress), daemon=True)
        flusher.start()
        if timer is not None:
            timer.start()
        result, error = None, None
        try:
            result = task.run(task)
        except Exception as e:  # noqa: BLE001 - the error belongs to the task's record and caller
            error = e
            if not isinstance(e, EaselError):
                logger.exception("task %s failed", task.id)
        finally:
            if timer is not None:
                timer.cancel()
            stop_progress.set()
            flusher.join()
        finished = time.time()
        self._durations.append(finished - task.started_at)
        if error is not None:
            status, message = TaskStatus.FAILED, getattr(error, "message", None) or str(error) or type(error).__name__
        elif task.timed_out:
            status, message = TaskStatus.FAILED, f"timed out after {self.task_timeout:g} s (worker timeout)"
        elif task.control.interrupted:
            status, message = TaskStatus.CANCELLED, "cancelled while running"
        else:
            status, message = TaskStatus.SUCCEEDED, None
        task.status, task.error, task.finished_at = status, message, finished
        self._finish_record(task.id, status, error=message, outcome=task.outcome)
        if error is not None:
            task.future.set_exception(error)
        else:
            task.future.set_result(result)

    def _time_out(self, task: Task) -> None:
        task.timed_out = True
        task.control.interrupted = True

    def _flush_progress(self, task: Task, stop: threading.Event) -> None:
        last = None
        while not stop.wait(self.progress_interval):
            state = task.progress.as_dict()
            if state != last:
                self.store.set_progress(task.id, state["fraction"], state)
                last = state

    def _finish_record(self, task_id: str, status: TaskStatus, *, error: str | None = None,
                       outcome: dict | None = None) -> None:
        outcome = outcome or {}
        item = self.store.finish(task_id, status, images=outcome.get("images"), urls=outcome.get("urls"),
                                 info=outcome.get("info"), error=error, finished_at=time.time())
        if item is None:
            return
        record = self.store.get(task_id)
        for listener in list(self.on_finished):
            try:
                listener(record)
            except EaselError:
                logger.exception("finished-task listener failed for %s", task_id)


def _cancelled(task_id: str) -> EaselError:
    from modules.errors import InterruptedError_

    return InterruptedError_(f"task {task_id} was cancelled before it started")
