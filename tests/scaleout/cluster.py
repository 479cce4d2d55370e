"""Real processes on loopback sharing one Redis: API processes (--no-worker) and worker processes (--worker), over
one data dir (the shared mount of a real deployment)."""
from __future__ import annotations

import os
import signal
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support import EaselServer, wait_for
from tests.tasks.helpers import LINK_SECRET, WEBHOOK_SECRET

AUTH = ("ann", "pw-ann")
OTHER = ("bob", "pw-bob")


def write_users_file(data_dir: Path) -> Path:
    """ann is an admin (sees every task, /internal routes), bob a plain user (sees only his own tasks)."""
    import json

    from modules.users.passwords import hash_password

    path = data_dir / "users.json"
    users = [{"name": AUTH[0], "password_hash": hash_password(AUTH[1]), "role": "admin"},
             {"name": OTHER[0], "password_hash": hash_password(OTHER[1]), "role": "user"}]
    path.write_text(json.dumps({"users": users}), encoding="utf-8")
    return path
# One torch thread per process: two workers on two cores, and no OpenMP barrier waits when the box is busy.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def start_all(servers: list[EaselServer]) -> list[EaselServer]:
    """Start servers side by side (each imports torch and builds its services: seconds)."""
    errors: list[BaseException] = []

    def start(server: EaselServer) -> None:
        try:
            server.start(timeout=240)
        except BaseException as e:  # noqa: BLE001 - re-raised below, after the others started or failed
            errors.append(e)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for server in servers:
            server.stop()
        raise errors[0]
    return servers


@dataclass
class Cluster:
    data_dir: Path
    redis_url: str
    prefix: str
    flags: tuple[str, ...]
    apis: list[EaselServer] = field(default_factory=list)
    workers: list[EaselServer] = field(default_factory=list)

    @classmethod
    def create(cls, data_dir: Path, redis_url: str, *extra: str) -> Cluster:
        prefix = f"cluster-{uuid.uuid4().hex[:8]}:"
        flags = ("--redis-url", redis_url, "--redis-prefix", prefix, "--ckpt", "tiny-a", "--worker-heartbeat", "0.4",
                 "--webhook-allow-private", "--webhook-backoff", "0.2", "--webhook-secret", WEBHOOK_SECRET,
                 "--link-secret", LINK_SECRET, *extra)
        return cls(data_dir, redis_url, prefix, flags)

    def api(self, *flags: str) -> EaselServer:
        users = self.data_dir / "users.json"
        if not users.is_file():
            write_users_file(self.data_dir)
        return EaselServer(self.data_dir, *self.flags, "--no-worker", "--users-file", str(users), *flags, env=ONE_THREAD)

    def worker(self, *flags: str) -> EaselServer:
        return EaselServer(self.data_dir, *self.flags, "--worker", *flags, env=ONE_THREAD)

    def start(self, apis: int, workers: int) -> Cluster:
        started = start_all([self.api() for _ in range(apis)] + [self.worker() for _ in range(workers)])
        self.apis, self.workers = started[:apis], started[apis:]
        with self.client() as client:
            wait_for(lambda: len(client.get("/internal/workers").json()["workers"]) == workers, timeout=60)
        return self

    def stop(self) -> None:
        for server in self.apis + self.workers:
            server.stop()

    def client(self, api: int = 0, auth: tuple[str, str] = AUTH, **kwargs) -> httpx.Client:
        return self.apis[api].client(auth=auth, **kwargs)

    def worker_running(self, client: httpx.Client, task_id: str) -> EaselServer:
        """The worker process that runs `task_id` (by the pid its heartbeat announces)."""

        def running_it():
            workers = client.get("/internal/workers").json()["workers"]
            entry = next((w for w in workers if w["task"] == task_id), None)
            assert entry is not None or client.get(f"/sdapi/v1/tasks/{task_id}").json()["status"] == "running", \
                "the task ended before its worker could be found"
            return entry

        entry = wait_for(running_it)
        return next(w for w in self.workers if w.proc.pid == entry["pid"])

    def kill(self, server: EaselServer) -> None:
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
        server.stop()

    def loads(self) -> int:
        """Checkpoint loads from disk, summed over the workers' /metrics."""
        total = 0
        for worker in self.workers:
            text = httpx.get(worker.url + "/metrics", timeout=10).text
            total += int(next(line.split()[1] for line in text.splitlines()
                              if line.startswith("easel_worker_model_loads_total")))
        return total
