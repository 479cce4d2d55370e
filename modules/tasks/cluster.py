"""Scale-out modes (docs/scale-out.md): the flags, and the task backend they choose.

- default: one process, the in-process queue over SQLite, one worker thread (nothing changes);
- `--redis-url`: queue, records, progress, control and results on Redis; this process serves the API/WebUI and
  runs a worker;
- `--redis-url --no-worker`: API/WebUI only, it enqueues;
- `--redis-url --worker`: a worker only (no WebUI, no public API; a health/metrics port).
Results go to a storage every process reads: a shared `--data-dir` (NFS/NAS) or `--storage-url`.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from modules.errors import InvalidRequestError
from modules.tasks.redis_conn import DEFAULT_PREFIX

logger = logging.getLogger(__name__)


def add_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--redis-url", type=str, default=os.environ.get("EASEL_REDIS_URL") or None,
        help="redis://[:password@]host:port/db: run the task queue, task records, progress, control and the result "
             "stream on Redis, shared by many API and worker processes (or env EASEL_REDIS_URL; default: in process)")
    add("--redis-prefix", type=str, default=os.environ.get("EASEL_REDIS_PREFIX") or DEFAULT_PREFIX,
        help="prefix of every Redis key, so deployments can share one Redis (default easel:)")
    add("--worker", action="store_true",
        help="with --redis-url: run a worker only (no WebUI, no public API; --port serves /internal/ping and /metrics, "
             "default 7862)")
    add("--no-worker", action="store_true",
        help="with --redis-url: serve the API/WebUI and only enqueue (workers run elsewhere)")
    add("--worker-name", type=str, default=os.environ.get("EASEL_WORKER_NAME") or None,
        help="this worker's name in the cluster (default host-pid; must be unique)")
    add("--worker-heartbeat", type=float, default=1.0,
        help="seconds between worker heartbeats; a worker silent for 3 is gone, its started task is taken over "
             "after 5")
    add("--max-delivery", type=int, default=1,
        help="runs of a task that fails with a server error before it fails for good and goes to the dead letters "
             "(default 1: no retry)")
    add("--no-affinity", action="store_true",
        help="hand tasks to workers in queue order only, without preferring a worker that holds the checkpoint")


def check_flags(cmd_opts: argparse.Namespace) -> None:
    """Refuse combinations that cannot work, naming the flag."""
    if getattr(cmd_opts, "worker", False) and getattr(cmd_opts, "no_worker", False):
        raise InvalidRequestError("--worker and --no-worker exclude each other", field="--worker")
    for flag in ("worker", "no_worker"):
        if getattr(cmd_opts, flag, False) and not getattr(cmd_opts, "redis_url", None):
            name = "--" + flag.replace("_", "-")
            raise InvalidRequestError(f"{name} needs --redis-url (the queue the other processes share)", field=name)
    if getattr(cmd_opts, "max_delivery", 1) < 1:
        raise InvalidRequestError("--max-delivery must be at least 1", field="--max-delivery")
    if getattr(cmd_opts, "worker_heartbeat", 1.0) <= 0:
        raise InvalidRequestError("--worker-heartbeat must be positive", field="--worker-heartbeat")


def is_clustered(cmd_opts: argparse.Namespace) -> bool:
    return bool(getattr(cmd_opts, "redis_url", None))


def local_worker_count(cmd_opts: argparse.Namespace, requested: int) -> int:
    return 0 if getattr(cmd_opts, "no_worker", False) else requested


def worker_names(cmd_opts: argparse.Namespace, count: int) -> list[str]:
    """Unique names across the cluster (host-pid by default); the embedded default keeps easel-worker-<i>."""
    if not is_clustered(cmd_opts):
        return [f"easel-worker-{i}" for i in range(count)]
    base = cmd_opts.worker_name or f"{socket.gethostname()}-{os.getpid()}"
    return [base if count == 1 else f"{base}-{i}" for i in range(count)]


def build_task_backend(cmd_opts: argparse.Namespace, tasks_db) -> tuple[Any, Any]:
    """(task store, task queue) for the flags."""
    if not is_clustered(cmd_opts):
        from modules.tasks.queue_memory import InProcessTaskQueue
        from modules.tasks.store_sqlite import SqliteTaskStore

        store = SqliteTaskStore(tasks_db)
        queue = InProcessTaskQueue(store, max_waiting=cmd_opts.queue_size,
                                   max_delivery=getattr(cmd_opts, "max_delivery", 1))
        queue.task_timeout = cmd_opts.task_timeout
        return store, queue
    from modules.tasks.queue_redis import RedisTaskQueue
    from modules.tasks.store_redis import RedisTaskStore

    shared = RedisTaskStore(cmd_opts.redis_url, prefix=cmd_opts.redis_prefix)
    return shared, RedisTaskQueue(shared, max_waiting=cmd_opts.queue_size, max_delivery=cmd_opts.max_delivery,
                                  task_timeout=cmd_opts.task_timeout, heartbeat=cmd_opts.worker_heartbeat,
                                  affinity=not cmd_opts.no_affinity, publish_settings=not cmd_opts.worker)


def webhook_dispatcher(cmd_opts: argparse.Namespace, store, *args, **kwargs):
    """The dispatcher for the mode: in process, or reading the Redis outbox (each webhook sent once)."""
    if not is_clustered(cmd_opts):
        from modules.tasks.webhooks import WebhookDispatcher

        return WebhookDispatcher(store, *args, **kwargs)
    from modules.tasks.webhooks_redis import RedisWebhookDispatcher

    return RedisWebhookDispatcher(store, *args, heartbeat=cmd_opts.worker_heartbeat, **kwargs)


def shared_secret(store, name: str, explicit: str | None, env_name: str, secrets_file) -> bytes:
    """The flag's or the environment's secret as given; else the data dir's, except with Redis: then the one
    secret every process of the cluster uses (the first process to start offers its data dir's), so a link
    signed by one API process verifies on another and every process signs webhooks alike."""
    from modules.tasks.signing import load_secret

    if explicit or os.environ.get(env_name):
        return load_secret(explicit, env_name, secrets_file, name)
    value = load_secret(None, env_name, secrets_file, name)
    redis = getattr(store, "redis", None)
    if redis is None:
        return value
    key = store.keys("secret", name)
    redis.set(key, value.decode("utf-8"), nx=True)
    return str(redis.get(key)).encode("utf-8")


def attach_worker_info(queue, info: Callable[[], dict], held_models: Callable[[], list[str]], models) -> None:
    """Let a Redis queue announce this process's workers (and hear about model loads at once)."""
    registry = getattr(queue, "registry", None)
    if registry is None:
        return
    registry.info = info
    queue.held_models = held_models
    models.on_loaded.append(lambda _loaded: queue.models_changed())


class LoadStats:
    """Disk loads of checkpoints by this process: how many, and how long each title took (the affinity policy
    weighs a load against waiting for a worker that holds the checkpoint)."""

    def __init__(self) -> None:
        self.loads = 0
        self.seconds: dict[str, float] = {}

    def timed(self, load_fn: Callable) -> Callable:
        def load(info, *args, **kwargs):
            started = time.perf_counter()
            loaded = load_fn(info, *args, **kwargs)
            self.loads += 1
            self.seconds[info.title] = round(time.perf_counter() - started, 3)
            return loaded
        return load


def worker_info(models, precision, handlers, stats: LoadStats, device_id: str | None) -> Callable[[], dict]:
    """What a worker announces each heartbeat: device, free memory, the checkpoints it holds, load times."""
    import psutil

    def info() -> dict[str, Any]:
        device = precision.device
        free = total = None
        if device.type == "cuda":
            import torch

            free, total = torch.cuda.mem_get_info(device)
        else:
            vm = psutil.virtual_memory()
            free, total = vm.available, vm.total
        return {"device": str(device), "device_id": device_id, "free_memory": free, "total_memory": total,
                "loaded": models.current_title, "models": models.held_titles(), "load_seconds": dict(stats.seconds),
                "loads": stats.loads, "kinds": handlers.kinds}
    return info
