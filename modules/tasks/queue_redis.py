"""The task queue on Redis: many API processes submit, many worker processes (any machine that reaches Redis)
run, every one of them sees every task.

- Waiting tasks live in per-priority, per-user sorted sets; a worker asks the scheduler (scheduling.py: priority,
  round robin between users, model affinity from the workers' heartbeats) which one to take, and takes it with
  one script that also sends it through the `deliveries` stream's consumer group, so the start is in that
  worker's pending list.
- The worker acknowledges the entry in the same script that records the result (after the images are in the
  storage). Its process touches the entries it runs every heartbeat; an entry idle for LEASE_BEATS
  heartbeats belongs to a worker that died (kill -9, lost machine): another worker takes it over with
  XAUTOCLAIM and runs the task again (a second crash fails it). Finishing is idempotent (only the first
  finish of a task counts), so a task has one result, one result-stream entry and one webhook.
- Progress and the encoded live preview are keys the worker's process writes (throttled; the preview only
  while someone asks for it); interrupt/skip/cancel are signals in a list the worker's process polls.
- Sync callers wait for the `done` message (pub/sub), re-reading the store at least every second.
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modules.errors import ConflictError, NotFoundError, QueueFullError
from modules.step_control import StepControl
from modules.tasks.common import TaskProgress, TaskStatus
from modules.tasks.dead_letter import dead_letter, should_retry
from modules.tasks.queue_base import FinishedListener, Job, Preview, TaskQueue
from modules.tasks.queue_redis_lua import (
    CANCEL_WAITING,
    COMPLETE,
    ENQUEUE_STORED,
    GROUP,
    POSITION,
    RECLAIM,
    REQUEUE_RUN,
    REQUEUE_STORED,
    SNAPSHOT,
    SUBMIT,
    TAKE,
    TOUCH,
)
from modules.tasks.redis_conn import translate_errors
from modules.tasks.redis_events import RECHECK, RedisEvents
from modules.tasks.redis_registry import LEASE_BEATS, ClusterSettings, WorkerRegistry, estimates, parse_worker, worker_view
from modules.tasks.scheduling import WINDOW, Level, Waiting, choose, run_order, user_key
from modules.tasks.store_base import TaskRecord
from modules.tasks.store_redis import RedisTaskStore, decode, dump, sink_item

logger = logging.getLogger(__name__)
TICK = 0.1  # seconds between the worker process's control polls and progress flushes
PROGRESS_EVERY = 0.1  # at most this often a step's progress is written at once (the rest on the next tick)
PREVIEW_EVERY = 0.25  # at most this often a live preview is encoded, and only while someone asks for one
WANT_PREVIEW_MS = 3000  # a reader's request for previews lasts this long
SIGNAL_TTL_S = 3600
USERS_PER_PICK = 64  # users per priority level the scheduler looks at per pick
CANCELLED_WAITING = "cancelled before it started"
CANCELLED_RUNNING = "cancelled while running"
CANCELLED_LOST = "cancelled; its worker stopped before it ended"
WORKER_DIED_TWICE = ("its worker stopped twice while running this task (crash, kill or lost machine); it was run "
                     "again once and is not retried again")
CRASHED_TWICE = ("the server stopped twice while this task was running (crash or kill); it was re-queued once "
                 "and is not retried again")


@dataclass
class _Held:
    """A job a worker of this process runs: its stream entry and what its live progress needs."""

    job: Job
    worker: str
    entry: str
    latents: Any = None
    latent_seq: int = 0
    preview_seq: int = 0
    preview_at: float = 0.0
    progress_at: float = 0.0
    progress_dirty: bool = True
    local_preview: Preview | None = None


@translate_errors
class RedisTaskQueue(TaskQueue):
    store: RedisTaskStore

    def __init__(self, store: RedisTaskStore, max_waiting: int = 64, *, max_delivery: int = 1,
                 task_timeout: float = 0.0, heartbeat: float = 1.0, affinity: bool = True,
                 publish_settings: bool = True, worker_info: Callable[[], dict[str, Any]] | None = None,
                 held_models: Callable[[], list[str]] | None = None):
        self.store = store
        self.redis, self.keys, self.url = store.redis, store.keys, store.url
        self.on_finished: list[FinishedListener] = []
        self.heartbeat = heartbeat
        self.lease = heartbeat * LEASE_BEATS
        self.affinity = affinity
        self.publish_settings = publish_settings
        self.held_models = held_models or (lambda: [])
        self.settings = ClusterSettings(self.redis, self.keys, {"max_waiting": max_waiting,
                                                                 "task_timeout": task_timeout,
                                                                 "max_delivery": max_delivery})
        self.registry = WorkerRegistry(self.redis, self.keys, heartbeat, worker_info or (lambda: {}))
        self.events = RedisEvents(self.redis, self.keys("done"), self.keys("wake"))
        self._scripts = {name: self.redis.register_script(src) for name, src in (
            ("submit", SUBMIT), ("take", TAKE), ("reclaim", RECLAIM), ("complete", COMPLETE),
            ("requeue_run", REQUEUE_RUN), ("cancel_waiting", CANCEL_WAITING), ("position", POSITION),
            ("snapshot", SNAPSHOT), ("touch", TOUCH), ("enqueue_stored", ENQUEUE_STORED),
            ("requeue_stored", REQUEUE_STORED))}
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._keeper: threading.Thread | None = None
        self._announce_soon = threading.Event()
        self._reclaimed_at = 0.0

    def _run(self, name: str, *args: Any) -> Any:
        return self._scripts[name](args=[self.keys.prefix, *args])

    # -- shared settings -----------------------------------------------------------------------------------------
    @property
    def max_waiting(self) -> int:  # type: ignore[override]
        return int(self.settings.get("max_waiting"))

    @max_waiting.setter
    def max_waiting(self, value: int) -> None:
        self.settings.set("max_waiting", int(value))

    @property
    def task_timeout(self) -> float:  # type: ignore[override]
        return float(self.settings.get("task_timeout"))

    @task_timeout.setter
    def task_timeout(self, value: float) -> None:
        self.settings.set("task_timeout", float(value))

    @property
    def max_delivery(self) -> int:  # type: ignore[override]
        return max(1, int(self.settings.get("max_delivery")))

    @max_delivery.setter
    def max_delivery(self, value: int) -> None:
        self.settings.set("max_delivery", int(value))

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._ensure_group()
        if self.publish_settings:
            self.settings.publish()
        self._recover()

    def stop(self) -> None:
        """No more claims; jobs still running here end (or are handed back) before the keeper thread exits."""
        self._stopping.set()
        self.events.wakeup.notify()
        self.events.stop()

    def _ensure_group(self) -> None:
        import redis

        try:
            self.redis.xgroup_create(self.keys("deliveries"), GROUP, id="$", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def _recover(self) -> None:
        """Records no worker holds and no queue lists (written by an older process, or a store restored from
        a backup) are queued again, by the embedded queue's rules."""
        held = set(self.redis.hkeys(self.keys("delivery"))) | set(self.redis.hkeys(self.keys("q", "where")))
        queued = 0
        for record in self.store.list_unfinished():
            if record.id in held:
                continue
            if record.cancel_requested:
                self._finish(record.id, TaskStatus.CANCELLED, error="cancelled; the server stopped before it ended")
            elif record.payload is None:
                self._finish(record.id, TaskStatus.FAILED,
                             error="cannot resume after restart: the task was stored without its input")
            elif record.status == TaskStatus.RUNNING and record.runs >= 2:
                self._finish(record.id, TaskStatus.FAILED, error=CRASHED_TWICE)
            else:
                script = "requeue_stored" if record.status == TaskStatus.RUNNING else "enqueue_stored"
                args = [record.id, record.priority or "normal", user_key(record.user)]
                queued += int(self._run(script, *args, *([repr(time.time())] if script == "requeue_stored" else [])))
        if queued:
            logger.info("task queue: %d stored tasks queued again", queued)

    # -- submitting side -----------------------------------------------------------------------------------------
    def submit(self, record: TaskRecord) -> TaskRecord:
        record.status = TaskStatus.WAITING
        record.priority = record.priority or "normal"
        args = self.store.create_args(record)
        seq, waiting = self._run("submit", self.max_waiting, record.priority, user_key(record.user), *args)
        if int(seq) == -1:
            raise QueueFullError(f"the queue is full ({waiting} tasks waiting); try again later",
                                 retry_after=self.retry_after())
        if int(seq) == 0:
            raise ConflictError(f"task id {record.id!r} is already in use", field="task_id")
        return record

    async def wait(self, task_id: str, timeout: float | None = None) -> TaskRecord:
        self.events.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            future = self.events.watch(task_id)  # before reading: a finish in between still wakes us
            try:
                record = self.store.get(task_id)
                if record is None:
                    raise NotFoundError(f"task {task_id!r} not found", field="task_id")
                left = None if deadline is None else deadline - time.monotonic()
                if record.status.finished or (left is not None and left <= 0):
                    return record
                try:
                    await asyncio.wait_for(asyncio.shield(future), timeout=RECHECK if left is None else min(left, RECHECK))
                except TimeoutError:
                    pass
            finally:
                self.events.unwatch(task_id, future)

    def cancel(self, task_id: str) -> TaskRecord:
        args = self.store.finish_args(task_id, TaskStatus.CANCELLED, error=CANCELLED_WAITING, finished_at=time.time())
        if self._run("cancel_waiting", *args):
            self._announce(task_id)
        else:
            record = self.store.get(task_id)
            if record is None:
                raise NotFoundError(f"task {task_id!r} not found", field="task_id")
            if record.status == TaskStatus.RUNNING:
                self.store.request_cancel(task_id)  # durable: a worker that dies now does not run it again
                self._signal(task_id, "interrupt")
            elif record.status == TaskStatus.WAITING:  # recorded but not queued (recovery pending)
                self._finish(task_id, TaskStatus.CANCELLED, error=CANCELLED_WAITING)
        record = self.store.get(task_id)
        assert record is not None
        return record

    def _running_target(self, task_id: str | None) -> str | None:
        if task_id:
            return task_id if self.redis.zscore(self.keys("running"), task_id) is not None else None
        first = self.redis.zrange(self.keys("running"), 0, 0)
        return first[0] if first else None

    def interrupt(self, task_id: str | None = None) -> str | None:
        target = self._running_target(task_id)
        if target is None:
            return None
        self.store.request_cancel(target)
        self._signal(target, "interrupt")
        return target

    def skip(self, task_id: str | None = None) -> str | None:
        target = self._running_target(task_id)
        if target is not None:
            self._signal(target, "skip")
        return target

    def _signal(self, task_id: str, what: str) -> None:
        held = self._held.get(task_id)
        if held is not None:  # run here: at once
            _apply_signal(held.job, what)
        key = self.keys("ctl", task_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(key, what)
        pipe.expire(key, SIGNAL_TTL_S)
        pipe.execute()

    def pending(self) -> list[TaskRecord]:
        levels, _, _ = self._snapshot(0, 0)
        ids = [entry.id for entry in run_order(levels)]
        return [r for r in self.store.get_many(ids) if r.status == TaskStatus.WAITING]

    def running(self) -> list[TaskRecord]:
        ids = self.redis.zrange(self.keys("running"), 0, -1)
        return [r for r in self.store.get_many(ids) if r.status == TaskStatus.RUNNING]

    def waiting_count(self) -> int:
        return self.store.count(TaskStatus.WAITING)

    def position(self, task_id: str) -> int | None:
        place = self._run("position", task_id)
        return int(place) if place else None

    def progress(self, task_id: str) -> TaskProgress | None:
        held = self._held.get(task_id)
        if held is not None:
            return held.job.progress.copy()
        raw = self.redis.get(self.keys("prog", task_id))
        return TaskProgress(**json.loads(raw)) if raw else None

    def preview(self, task_id: str, fmt: str = "png") -> Preview | None:
        held = self._held.get(task_id)
        if held is not None:
            return self._local_preview(held, fmt)
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys("prevwant", task_id), fmt, px=WANT_PREVIEW_MS)
        pipe.get(self.keys("preview", task_id))
        raw = pipe.execute()[1]
        if not raw:
            return None
        data = json.loads(raw)
        image = data["b64"] if data["fmt"] == fmt else transcode(data["b64"], fmt)
        return Preview(int(data["id"]), image, fmt)

    def _local_preview(self, held: _Held, fmt: str) -> Preview | None:
        if held.latents is None:
            return None
        cached = held.local_preview
        if cached is not None and cached.id == held.latent_seq and cached.fmt == fmt:
            return cached
        from modules.engine.preview import latent_preview_base64  # torch: only where a worker runs

        held.local_preview = Preview(held.latent_seq, latent_preview_base64(
            held.latents, held.job.progress.preview_family, fmt), fmt)
        return held.local_preview

    def retry_after(self) -> int:
        stats = self.redis.hgetall(self.keys("stats"))
        average = float(stats.get("task_seconds") or 5.0)
        workers = max(1, int(self.redis.scard(self.keys("workers"))))
        return int(min(3600, max(1, round(average * (self.waiting_count() + 1) / workers))))

    def workers(self) -> list[dict]:
        return self.registry.list()

    def dead_letters(self, limit: int = 100) -> list[dict]:
        entries = self.redis.xrevrange(self.keys("dead"), count=limit)
        return [{**json.loads(fields["entry"]), "entry": entry_id} for entry_id, fields in entries]

    # -- working side --------------------------------------------------------------------------------------------
    def claim(self, worker: str, timeout: float) -> Job | None:
        import redis

        deadline = time.monotonic() + timeout
        if self._stopping.is_set():  # the queue stops before its workers: do not let their loops spin
            time.sleep(min(timeout, TICK))
            return None
        self._join(worker)
        while not self._stopping.is_set():
            generation = self.events.wakeup.generation
            try:
                job = self._reclaim(worker) or self._pick(worker)
            except redis.ResponseError as e:
                if "NOGROUP" not in str(e):
                    raise
                self._ensure_group()  # Redis was emptied under us
                job = None
            except (redis.ConnectionError, redis.TimeoutError) as e:
                logger.warning("worker %s: Redis unreachable (%s); retrying", worker, e)
                self._stopping.wait(min(1.0, max(0.0, deadline - time.monotonic())))
                job = None
            if job is not None:
                return job
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.events.wakeup.wait(generation, min(left, self.heartbeat))
        return None

    def _join(self, worker: str) -> None:
        self.events.start()
        if self.registry.add(worker):
            logger.info("worker %s announced in %s", worker, self.url.rsplit("@", 1)[-1])
        with self._lock:
            if self._keeper is None or not self._keeper.is_alive():
                self._keeper = threading.Thread(target=self._keep, name="easel-redis-keeper", daemon=True)
                self._keeper.start()

    def models_changed(self) -> None:
        """This process loaded or dropped a checkpoint: announce it on the next tick (affinity reads it)."""
        self._announce_soon.set()

    def _snapshot(self, users: int, per_user: int) -> tuple[dict[str, Level], list[dict], dict[str, str]]:
        raw_levels, raw_workers, raw_stats = self._run("snapshot", users, per_user)
        levels = {}
        for name, has_cursor, cursor, rows in raw_levels:
            table = {}
            for user, tasks in rows:
                table[user] = [Waiting(task_id, user, name, json.loads(model), int(float(order)), float(json.loads(created)))
                               for task_id, order, model, created in tasks]
            levels[name] = Level(table, cursor if int(has_cursor) else None)
        now = time.time()
        stats = dict(zip(raw_stats[::2], raw_stats[1::2], strict=True))
        return levels, [parse_worker(w, now) for w in raw_workers], stats

    def _pick(self, worker: str) -> Job | None:
        for _ in range(3):  # another worker may take the chosen task first
            levels, workers, stats = self._snapshot(USERS_PER_PICK, WINDOW)
            if not any(level.users for level in levels.values()):
                return None
            if self.affinity:
                now = time.time()
                est = estimates(workers, stats)
                me = worker_view({"name": worker, "state": "idle", "models": self.held_models()}, est.task_seconds, now)
                others = [worker_view(w, est.task_seconds, now) for w in workers if w.get("name") != worker]
                entry = choose(levels, me, others, est)
            else:
                entry = choose(levels)
            if entry is None:
                return None
            started = time.time()
            taken = self._run("take", entry.id, worker, dump(started), repr(started))
            if taken:
                return self._hold(decode(taken[1]), worker, taken[0])
        return None

    def _reclaim(self, worker: str) -> Job | None:
        """Take over the oldest started task whose worker stopped touching it (XAUTOCLAIM)."""
        if time.monotonic() - self._reclaimed_at < self.heartbeat / 2:
            return None
        self._reclaimed_at = time.monotonic()
        answer = self.redis.xautoclaim(self.keys("deliveries"), GROUP, worker, min_idle_time=int(self.lease * 1000),
                                       start_id="0-0", count=1)
        for entry_id, fields in answer[1]:
            task_id = (fields or {}).get("task")
            if not task_id:
                self.redis.xack(self.keys("deliveries"), GROUP, entry_id)
                continue
            started = time.time()
            verdict = self._run("reclaim", task_id, entry_id, worker, dump(started), repr(started))
            if verdict[0] == "run":
                logger.warning("task %s: its worker stopped beating; %s runs it again", task_id, worker)
                return self._hold(decode(verdict[1]), worker, entry_id)
            if verdict[0] == "cancel":
                self._end(task_id, worker, entry_id, TaskStatus.CANCELLED, error=CANCELLED_LOST)
            elif verdict[0] == "crashed":
                record = self.store.get(task_id)
                letter = dump(dead_letter(record, error=WORKER_DIED_TWICE, deliveries=record.runs, worker=worker)) \
                    if record is not None else ""
                self._end(task_id, worker, entry_id, TaskStatus.FAILED, error=WORKER_DIED_TWICE, letter=letter)
        return None

    def _hold(self, record: TaskRecord, worker: str, entry: str) -> Job:
        job = Job(record=record, control=StepControl(), progress=TaskProgress(started_at=record.started_at),
                  publish=self._publish)
        if record.cancel_requested:
            job.control.interrupted = True
        held = _Held(job, worker, entry)
        self._held[record.id] = held
        self._write_progress(held)
        return job

    def _publish(self, job: Job, latents: Any) -> None:
        held = self._held.get(job.id)
        if held is None:
            return
        if latents is not None:
            held.latents = latents
            held.latent_seq += 1
        if time.monotonic() - held.progress_at >= PROGRESS_EVERY:
            self._write_progress(held)
        else:
            held.progress_dirty = True

    def _write_progress(self, held: _Held) -> None:
        import redis

        held.progress_at, held.progress_dirty = time.monotonic(), False
        data = json.dumps(vars(held.job.progress.copy()), separators=(",", ":"))
        try:
            self.redis.set(self.keys("prog", held.job.id), data, px=int(self.lease * 4000))
        except (redis.ConnectionError, redis.TimeoutError):
            held.progress_dirty = True  # written on a later tick

    def complete(self, job: Job, status: TaskStatus, *, images: list[str] | None = None, info: Any = None,
                 error: str | None = None, error_code: int | None = None) -> TaskRecord | None:
        held = self._held.pop(job.id, None)
        worker, entry = (held.worker, held.entry) if held is not None else ("", "")
        now = time.time()
        duration = now - (job.record.started_at or now)
        if should_retry(status, error_code, job.record.runs, self.max_delivery) and \
                self._run("requeue_run", job.id, worker, entry, repr(now), "0"):
            logger.warning("task %s failed on delivery %d of at most %d: queued again", job.id, job.record.runs,
                           self.max_delivery)
            return self.store.get(job.id)
        letter = dump(dead_letter(job.record, error=error, error_code=error_code, deliveries=job.record.runs,
                                  worker=worker, at=now)) if status == TaskStatus.FAILED else ""
        return self._end(job.id, worker, entry, status, images=images, info=info, error=error, error_code=error_code,
                         duration=duration, letter=letter)

    def release(self, job: Job) -> None:
        held = self._held.pop(job.id, None)
        worker, entry = (held.worker, held.entry) if held is not None else ("", "")
        if self._run("requeue_run", job.id, worker, entry, repr(time.time()), "1"):
            logger.info("task %s handed back to the queue: worker %s stops", job.id, worker)
        else:  # its cancel was requested meanwhile
            self._end(job.id, worker, entry, TaskStatus.CANCELLED, error=CANCELLED_RUNNING)

    def _end(self, task_id: str, worker: str, entry: str, status: TaskStatus, *, images: list[str] | None = None,
             info: Any = None, error: str | None = None, error_code: int | None = None, duration: float | None = None,
             letter: str = "") -> TaskRecord | None:
        """Record the outcome and acknowledge the stream entry, in one script; retried while Redis is away (the
        results are already stored), so the task ends once it is back."""
        import redis

        finished_at = time.time()
        args = self.store.finish_args(task_id, status, images=images, info=info, error=error, error_code=error_code,
                                      finished_at=finished_at)
        delay = 0.2
        while True:
            try:
                result = self._run("complete", *args, worker, entry, "" if duration is None else repr(duration), letter)
                break
            except (redis.ConnectionError, redis.TimeoutError) as e:
                logger.warning("task %s: cannot record its end (%s); retrying in %.1f s", task_id, e, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        record = self.store.get(task_id)
        if sink_item(result, task_id, finished_at) is not None:
            self._announce(task_id, record)
        return record

    def _finish(self, task_id: str, status: TaskStatus, *, error: str | None = None) -> None:
        if self.store.finish(task_id, status, error=error, finished_at=time.time()) is not None:
            self._announce(task_id)

    def _announce(self, task_id: str, record: TaskRecord | None = None) -> None:
        record = record or self.store.get(task_id)
        if record is None:
            return
        for listener in list(self.on_finished):
            try:
                listener(record)
            except Exception:  # noqa: BLE001 - a listener (metrics, ...) must not fail the task
                logger.exception("finished-task listener failed for %s", task_id)

    # -- the worker process's keeper thread ----------------------------------------------------------------------
    def _keep(self) -> None:
        """Every TICK: apply interrupt/skip signals, flush progress and previews; every heartbeat: announce the
        workers and touch the stream entries of the jobs run here. Ends once stopped with no job left."""
        import redis

        beat = 0.0
        while not (self._stopping.is_set() and not self._held):
            try:
                held = list(self._held.values())
                if held:
                    self._poll_signals(held)
                    self._flush(held)
                if time.monotonic() - beat >= self.heartbeat or self._announce_soon.is_set():
                    self._announce_soon.clear()
                    self.registry.announce()
                    self._touch(held)
                    beat = time.monotonic()
            except (redis.ConnectionError, redis.TimeoutError) as e:
                if self._stopping.is_set():
                    return  # stopping and Redis is gone: nothing left to tell it (the heartbeats expire)
                logger.warning("worker heartbeat: Redis unreachable (%s)", e)
            time.sleep(TICK)
        try:
            self.registry.remove_all()
        except (redis.ConnectionError, redis.TimeoutError):
            logger.warning("worker heartbeat: could not remove the heartbeats (they expire)")

    def _poll_signals(self, held: list[_Held]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        for h in held:
            key = self.keys("ctl", h.job.id)
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
        answers = pipe.execute()
        for h, signals in zip(held, answers[::2], strict=True):
            for what in signals:
                _apply_signal(h.job, what)

    def _flush(self, held: list[_Held]) -> None:
        for h in held:
            if h.progress_dirty:
                self._write_progress(h)
        due = [h for h in held if h.latent_seq > h.preview_seq and time.monotonic() - h.preview_at >= PREVIEW_EVERY]
        if not due:
            return
        wanted = self.redis.mget([self.keys("prevwant", h.job.id) for h in due])
        for h, fmt in zip(due, wanted, strict=True):
            if fmt and h.latents is not None:
                from modules.engine.preview import latent_preview_base64  # torch: this is a worker process

                seq = h.latent_seq
                image = latent_preview_base64(h.latents, h.job.progress.preview_family, fmt)
                h.preview_seq, h.preview_at = seq, time.monotonic()
                self.redis.set(self.keys("preview", h.job.id), json.dumps({"id": seq, "fmt": fmt, "b64": image}),
                               px=int(self.lease * 4000))

    def _touch(self, held: list[_Held]) -> None:
        by_worker: dict[str, list[str]] = {}
        for h in held:
            by_worker.setdefault(h.worker, []).append(h.entry)
        for worker, entries in by_worker.items():
            kept = int(self._scripts["touch"](args=[self.keys("deliveries"), GROUP, worker, *entries]))
            # A job that ended since the snapshot was acknowledged, not taken over: count only those still here.
            still = sum(1 for h in held if h.worker == worker and h.job.id in self._held)
            if kept < min(still, len(entries)):
                logger.warning("worker %s: %d running task(s) were taken over by another worker (this process "
                               "stalled for more than %.1f s)", worker, still - kept, self.lease)
        pipe = self.redis.pipeline(transaction=False)
        for h in held:
            pipe.pexpire(self.keys("prog", h.job.id), int(self.lease * 4000))
        pipe.execute()


def _apply_signal(job: Job, what: str) -> None:
    if what == "interrupt":
        job.control.interrupted = True
    elif what == "skip":
        job.control.skipped = True


def transcode(image_b64: str, fmt: str) -> str:
    """A preview encoded by the worker in one format, re-encoded in another (the readers' option)."""
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(image_b64)))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG" if fmt == "jpeg" else fmt.upper())
    return base64.b64encode(buffer.getvalue()).decode("ascii")
