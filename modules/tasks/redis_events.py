"""One pub/sub connection per process: `done` (a task finished: wake this process's waiters) and `wake` (a task
was queued: wake this process's idle workers). Pub/sub is not durable, so everyone who waits also re-reads
the store at least every RECHECK seconds; a lost message costs at most that."""
from __future__ import annotations

import asyncio
import logging
import threading

logger = logging.getLogger(__name__)
RECHECK = 1.0


class Wakeup:
    """A generation counter: a worker notes it, looks for work, and sleeps only if nothing changed since."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0

    def notify(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait(self, since: int, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self.generation != since, timeout=timeout)


class RedisEvents:
    def __init__(self, redis, done_channel: str, wake_channel: str):
        self.redis = redis
        self.done_channel, self.wake_channel = done_channel, wake_channel
        self.wakeup = Wakeup()
        self._watchers: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future]]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()

    def start(self) -> None:
        """Start listening (once); returns when subscribed, or after a few seconds if Redis does not answer."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="easel-redis-events", daemon=True)
            self._thread.start()
        self._ready.wait(timeout=5)

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=RECHECK + 1)
        self._thread = None
        self._wake_all()

    def watch(self, task_id: str) -> asyncio.Future:
        """A future resolved when `task_id` finishes (or on reconnect); call from the event loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            self._watchers.setdefault(task_id, []).append((loop, future))
        return future

    def unwatch(self, task_id: str, future: asyncio.Future) -> None:
        with self._lock:
            entries = self._watchers.get(task_id, [])
            self._watchers[task_id] = [e for e in entries if e[1] is not future]
            if not self._watchers[task_id]:
                del self._watchers[task_id]

    def _resolve(self, task_id: str) -> None:
        with self._lock:
            entries = self._watchers.pop(task_id, [])
        for loop, future in entries:
            loop.call_soon_threadsafe(_set_done, future)

    def _wake_all(self) -> None:
        with self._lock:
            ids = list(self._watchers)
        for task_id in ids:
            self._resolve(task_id)
        self.wakeup.notify()

    def _loop(self) -> None:
        import redis

        while not self._stopping.is_set():
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.done_channel, self.wake_channel)
                self._ready.set()
                self._wake_all()  # anything missed while (re)connecting is re-read from the store
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=RECHECK)
                    if message is None or message.get("type") != "message":
                        continue
                    if message["channel"] == self.done_channel:
                        self._resolve(message["data"])
                    else:
                        self.wakeup.notify()
            except (redis.ConnectionError, redis.TimeoutError) as e:
                logger.warning("task events: lost the Redis connection (%s); reconnecting", e)
                self._stopping.wait(0.5)
            finally:
                try:
                    pubsub.close()
                except redis.RedisError:
                    logger.debug("task events: closing the pub/sub connection failed", exc_info=True)


def _set_done(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
