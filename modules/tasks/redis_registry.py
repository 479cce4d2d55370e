"""Workers announce themselves in Redis, and the queue settings every process shares.

Heartbeat: each worker has a hash `worker:<name>` that its process rewrites every `heartbeat` seconds with a
TTL of TTL_BEATS heartbeats: `info` (JSON: host, pid, device, free and total memory, the checkpoints it holds,
measured load times, counters), `heartbeat_at`, and `state` / `task` / `task_model` / `task_started`, which
the queue's scripts change when the worker takes or ends a task. A worker whose key expired is gone.
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from modules.tasks.scheduling import Estimates, WorkerView

TTL_BEATS = 3  # a worker silent for this many heartbeats is gone (its hash expires)
LEASE_BEATS = 5  # a started task whose stream entry was not touched for this many heartbeats is taken over
SETTINGS_TTL = 1.0  # seconds a process trusts its copy of the shared settings


def parse_worker(flat: list[str] | dict[str, str], now: float | None = None) -> dict[str, Any]:
    """A heartbeat hash as the API shows it (GET /internal/workers)."""
    data = dict(zip(flat[::2], flat[1::2], strict=True)) if isinstance(flat, list) else dict(flat)
    info = json.loads(data.get("info") or "{}")
    started = float(data["task_started"]) if data.get("task_started") else None
    now = time.time() if now is None else now
    return {**info, "state": data.get("state", "idle"), "task": data.get("task") or None,
            "task_model": json.loads(data.get("task_model") or "null"), "task_started": started,
            "task_seconds": round(now - started, 3) if started else None,
            "heartbeat_at": float(data.get("heartbeat_at") or 0), "alive": True}


def worker_view(worker: dict[str, Any], task_seconds: float, now: float) -> WorkerView:
    """The worker for the policy. A busy worker's remaining time is the average task duration minus the time its
    task has run, but at least that time: a task that has already run longer than usual is a long one and is
    expected to run about as long again (a busy holder is then not waited for forever)."""
    idle = worker.get("state") != "busy"
    started = worker.get("task_started")
    elapsed = 0.0 if started is None else max(0.0, now - started)
    remaining = 0.0 if idle or started is None else max(task_seconds - elapsed, elapsed)
    return WorkerView(worker.get("name", ""), idle, frozenset(worker.get("models") or ()), remaining)


def estimates(workers: list[dict[str, Any]], stats: dict[str, str]) -> Estimates:
    loads: dict[str, float] = {}
    for worker in workers:
        for title, seconds in (worker.get("load_seconds") or {}).items():
            loads[title] = max(loads.get(title, 0.0), float(seconds))
    task_seconds = float(stats.get("task_seconds") or 0) or Estimates().task_seconds
    return Estimates(load_seconds=loads, task_seconds=task_seconds)


class WorkerRegistry:
    """The workers of this process, announced every heartbeat."""

    def __init__(self, redis, keys, heartbeat: float, info: Callable[[], dict[str, Any]]):
        self.redis, self.keys, self.heartbeat, self.info = redis, keys, heartbeat, info
        self.names: set[str] = set()
        self.started = time.time()

    @property
    def ttl_ms(self) -> int:
        return int(self.heartbeat * TTL_BEATS * 1000)

    def add(self, name: str) -> bool:
        """Register a worker of this process; True the first time."""
        if name in self.names:
            return False
        self.names.add(name)
        self.announce(initial=True)
        return True

    def announce(self, initial: bool = False) -> None:
        if not self.names:
            return
        info = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": self.started, **self.info()}
        pipe = self.redis.pipeline(transaction=False)
        for name in self.names:
            key = self.keys("worker", name)
            pipe.hset(key, mapping={"info": json.dumps({**info, "name": name}, default=str),
                                    "heartbeat_at": repr(time.time())})
            if initial:
                pipe.hsetnx(key, "state", "idle")
            pipe.pexpire(key, self.ttl_ms)
            pipe.sadd(self.keys("workers"), name)
        pipe.execute()

    def remove_all(self) -> None:
        if not self.names:
            return
        pipe = self.redis.pipeline(transaction=False)
        for name in self.names:
            pipe.delete(self.keys("worker", name))
            pipe.srem(self.keys("workers"), name)
        pipe.execute()
        self.names.clear()

    def list(self) -> list[dict[str, Any]]:
        names = sorted(self.redis.smembers(self.keys("workers")))
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.keys("worker", name))
        now = time.time()
        return [parse_worker(row, now) for row in pipe.execute() if row]


class ClusterSettings:
    """Queue settings every process shares (`settings` hash): queue size, task timeout, max delivery. A process
    starts with its flags' values; API processes write theirs at start; /batch_update_sd_resource changes them
    for everyone."""

    def __init__(self, redis, keys, defaults: dict[str, float]):
        self.redis, self.key = redis, keys("settings")
        self.values = dict(defaults)
        self._read_at = 0.0

    def publish(self) -> None:
        self.redis.hset(self.key, mapping={k: repr(v) for k, v in self.values.items()})
        self._read_at = time.monotonic()

    def get(self, name: str) -> float:
        if time.monotonic() - self._read_at > SETTINGS_TTL:
            import redis

            try:
                stored = self.redis.hgetall(self.key)
            except (redis.ConnectionError, redis.TimeoutError):  # keep the last known values
                stored = {}
            for key, value in stored.items():
                if key in self.values:
                    self.values[key] = float(value)
            self._read_at = time.monotonic()
        return self.values[name]

    def set(self, name: str, value: float) -> None:
        self.values[name] = value
        self.redis.hset(self.key, name, repr(value))
        self._read_at = time.monotonic()
