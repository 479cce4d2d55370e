"""The embedded task queue: FIFO, in process, one worker thread per device."""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict

from modules.errors import NotFoundError, QueueFullError
from modules.tasks.common import Task, TaskStatus

logger = logging.getLogger(__name__)


class InProcessTaskQueue:
    """Runs tasks one at a time in submission order on a background thread.

    `submit` returns at once; callers wait on `task.future`. Finished tasks are kept (bounded) so their
    status can still be read.
    """

    def __init__(self, max_waiting: int = 64, keep_finished: int = 256):
        self.max_waiting = max_waiting
        self.keep_finished = keep_finished
        self._queue: queue.Queue[Task | None] = queue.Queue()
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self._lock = threading.Lock()
        self._current: Task | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="easel-worker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def submit(self, task: Task) -> Task:
        with self._lock:
            waiting = sum(1 for t in self._tasks.values() if t.status == TaskStatus.WAITING)
            if waiting >= self.max_waiting:
                raise QueueFullError(f"the queue is full ({waiting} tasks waiting); try again later")
            self._tasks[task.id] = task
            self._trim()
        self._queue.put(task)
        return task

    def get(self, task_id: str) -> Task:
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            raise NotFoundError(f"task {task_id!r} not found", field="task_id")
        return task

    @property
    def current(self) -> Task | None:
        return self._current

    def pending(self) -> list[Task]:
        with self._lock:
            return [t for t in self._tasks.values() if t.status == TaskStatus.WAITING]

    def cancel(self, task_id: str) -> Task:
        task = self.get(task_id)
        with task.lock:
            if task.status == TaskStatus.WAITING:
                task.status = TaskStatus.CANCELLED
                task.finished_at = time.time()
                task.future.cancel()
            elif task.status == TaskStatus.RUNNING:
                task.control.interrupted = True
        return task

    def _trim(self) -> None:
        finished = [k for k, t in self._tasks.items() if t.status not in (TaskStatus.WAITING, TaskStatus.RUNNING)]
        for key in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._tasks[key]

    def _work(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            with task.lock:
                if task.status != TaskStatus.WAITING:
                    continue
                task.status = TaskStatus.RUNNING
                task.started_at = time.time()
                task.future.set_running_or_notify_cancel()
            self._current = task
            try:
                result = task.run(task)
            except BaseException as e:  # noqa: BLE001 - the error belongs to the caller, the worker goes on
                task.status = TaskStatus.FAILED
                task.error = str(e)
                if not isinstance(e, Exception):
                    logger.exception("task %s aborted", task.id)
                task.future.set_exception(e)
            else:
                task.status = TaskStatus.CANCELLED if task.control.interrupted and result is None else TaskStatus.SUCCEEDED
                task.future.set_result(result)
            finally:
                task.finished_at = time.time()
                self._current = None
