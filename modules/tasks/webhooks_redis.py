"""Webhooks with many processes: each finished task's webhook is sent once, by one process.

The script that finishes a task appends it to the `hooks` outbox stream in the same step (store_redis.py), so
a finish is never without its delivery and never has two. Every process that runs a dispatcher reads the
stream through the consumer group `senders`; the one that reads an entry makes the attempts (signed, retried
with backoff, each recorded on the task, as in one process) and acknowledges it once delivered or given up.
It touches its entries every heartbeat; entries of a process that died are taken over (XAUTOCLAIM) by another
after the lease and continue with the next attempt.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time

from modules.tasks.queue_redis_lua import TOUCH
from modules.tasks.redis_registry import LEASE_BEATS
from modules.tasks.store_redis import RedisTaskStore
from modules.tasks.webhooks import WebhookDispatcher

logger = logging.getLogger(__name__)
GROUP = "senders"


class RedisWebhookDispatcher(WebhookDispatcher):
    def __init__(self, store: RedisTaskStore, *args, heartbeat: float = 1.0, **kwargs):
        super().__init__(store, *args, **kwargs)
        self.redis, self.keys = store.redis, store.keys
        self.stream = self.keys("hooks")
        self.heartbeat = heartbeat
        self.lease = heartbeat * LEASE_BEATS
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-hooks"
        self._entries: dict[str, str] = {}  # task id -> the outbox entry this process delivers
        self._entries_lock = threading.Lock()
        self._touch = self.redis.register_script(TOUCH)
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        import redis

        try:
            self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="easel-webhooks", daemon=True)
        self._thread.start()
        self._reader = threading.Thread(target=self._read, name="easel-webhook-outbox", daemon=True)
        self._reader.start()

    def stop(self) -> None:
        super().stop()
        if self._reader is not None:
            self._reader.join(timeout=self.heartbeat + 2)
            self._reader = None

    def on_finished(self, record) -> None:
        """Nothing to do: the finish itself put the delivery in the outbox."""

    def _read(self) -> None:
        import redis

        claimed_at = 0.0
        while not self._stopping:
            try:
                if time.monotonic() - claimed_at >= self.heartbeat:
                    self._keep_and_take_over()
                    claimed_at = time.monotonic()
                answer = self.redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"}, count=16,
                                               block=int(self.heartbeat * 1000))
                for _stream, entries in answer or []:
                    for entry_id, fields in entries:
                        self._take(entry_id, fields, time.time())
            except (redis.ConnectionError, redis.TimeoutError) as e:
                if self._stopping:
                    return
                logger.warning("webhooks: Redis unreachable (%s); retrying", e)
                time.sleep(0.5)

    def _keep_and_take_over(self) -> None:
        with self._entries_lock:
            mine = list(self._entries.values())
        if mine:
            self._touch(args=[self.stream, GROUP, self.consumer, *mine])
        answer = self.redis.xautoclaim(self.stream, GROUP, self.consumer, min_idle_time=int(self.lease * 1000),
                                       start_id="0-0", count=16)
        for entry_id, fields in answer[1]:
            record = self.store.get((fields or {}).get("task", ""))
            due = (record.webhook or {}).get("next_attempt_at", time.time()) if record is not None else time.time()
            logger.info("webhooks: took over the delivery of %s from a stopped process", (fields or {}).get("task"))
            self._take(entry_id, fields, float(due))

    def _take(self, entry_id: str, fields: dict | None, due: float) -> None:
        task_id = (fields or {}).get("task")
        if not task_id:
            self._done_entry(entry_id)
            return
        with self._entries_lock:
            self._entries[task_id] = entry_id
        self._schedule(task_id, due)

    def _attempt(self, task_id: str) -> None:
        record = self.store.get(task_id)
        if record is not None and (record.webhook or {}).get("state") == "pending":
            super()._attempt(task_id)  # (a delivery taken over after it succeeded is only acknowledged)
            record = self.store.get(task_id)
        state = (record.webhook or {}).get("state") if record is not None else None
        if state != "pending":  # delivered, failed for good, or nothing to deliver
            with self._entries_lock:
                entry_id = self._entries.pop(task_id, None)
            if entry_id is not None:
                self._done_entry(entry_id)

    def _done_entry(self, entry_id: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self.stream, GROUP, entry_id)
        pipe.xdel(self.stream, entry_id)
        pipe.execute()
