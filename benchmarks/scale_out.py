"""Scale-out figures (docs/scale-out.md, docs/performance.md), measured side by side in one run on a real
redis-server on a free loopback port:

1. images/s with 1 and with 2 worker processes (tiny model, one torch thread per worker, one API process
   that only enqueues; goal: 2 workers >= 1.8x of 1 on a 2-core machine);
2. queue round trip per task (submit -> a worker runs a no-op handler -> the waiter hears the result), in-process
   queue vs Redis queue, one caller at a time (goal: Redis adds < 5 ms at p50);
3. tasks/s with a no-op handler and 64 concurrent callers split over 2 caller processes (the API processes'
   submit + wait, without HTTP), 2 worker processes (goal: >= 1,000 tasks/s);
4. checkpoint loads for alternating tiny-a / tiny-b tasks over 2 workers, model affinity vs plain FIFO
   (`--no-affinity`); goal: affinity needs at most workers x checkpoints loads.

    venv/bin/python benchmarks/scale_out.py [--images 24] [--rounds 8] [--trips 300] [--noop-tasks 2000]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NOOP = "noop"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def noop_handlers():
    from modules.tasks.worker import HandlerRegistry, Outcome

    handlers = HandlerRegistry()
    handlers.register(NOOP, lambda job: Outcome(info={"noop": True}))
    return handlers


def redis_queue(url: str, prefix: str, bound: int = 4096):
    from modules.tasks.queue_redis import RedisTaskQueue
    from modules.tasks.store_redis import RedisTaskStore

    return RedisTaskQueue(RedisTaskStore(url, prefix=prefix), max_waiting=bound)


# -- 2. round trip ---------------------------------------------------------------------------------------------
def round_trips(queue, trips: int) -> list[float]:
    from modules.tasks.store_base import TaskRecord
    from modules.tasks.worker import Worker

    worker = Worker(queue, noop_handlers(), f"bench-{uuid.uuid4().hex[:6]}", poll=0.5)
    queue.start()
    worker.start()

    async def loop() -> list[float]:
        seconds = []
        for i in range(trips + 20):
            record = TaskRecord(id=uuid.uuid4().hex, kind=NOOP, payload={"i": i})
            started = time.perf_counter()
            queue.submit(record)
            done = await queue.wait(record.id, timeout=30)
            assert done.status.value == "succeeded", done
            if i >= 20:  # warm-up first
                seconds.append(time.perf_counter() - started)
        return seconds

    try:
        return asyncio.run(loop())
    finally:
        worker.stop()
        queue.stop()


def case_round_trip(redis_url: str, trips: int) -> None:
    from modules.tasks.queue_memory import InProcessTaskQueue
    from modules.tasks.store_sqlite import SqliteTaskStore

    with tempfile.TemporaryDirectory() as folder:
        memory = round_trips(InProcessTaskQueue(SqliteTaskStore(Path(folder) / "tasks.sqlite3"), max_waiting=64), trips)
    redis = round_trips(redis_queue(redis_url, f"bench-rt-{uuid.uuid4().hex[:6]}:"), trips)
    p50m, p50r = statistics.median(memory) * 1000, statistics.median(redis) * 1000
    print(f"round trip, one caller, no-op handler, {trips} tasks: in-process p50 {p50m:.2f} ms "
          f"p99 {percentile(memory, 0.99) * 1000:.2f} ms | Redis p50 {p50r:.2f} ms "
          f"p99 {percentile(redis, 0.99) * 1000:.2f} ms | added at p50 {p50r - p50m:.2f} ms (goal < 5)")


# -- 3. no-op throughput ---------------------------------------------------------------------------------------
def _noop_worker(url: str, prefix: str, threads: int, stop) -> None:
    from modules.tasks.worker import Worker

    queue = redis_queue(url, prefix)
    workers = [Worker(queue, noop_handlers(), f"noop-{uuid.uuid4().hex[:6]}", poll=0.5) for _ in range(threads)]
    queue.start()
    for worker in workers:
        worker.start()
    stop.wait()
    for worker in workers:
        worker.stop()
    queue.stop()


def _drive(queue, callers: int, per_caller: int) -> tuple[float, float, int]:
    """`callers` closed-loop callers (submit, wait for the result, again) on one event loop, as an API process."""
    from modules.tasks.store_base import TaskRecord

    async def caller(n: int) -> int:
        for i in range(per_caller):
            record = TaskRecord(id=uuid.uuid4().hex, kind=NOOP, payload={"c": n, "i": i})
            await asyncio.to_thread(queue.submit, record)
            await queue.wait(record.id, timeout=120)
        return per_caller

    async def main() -> int:
        return sum(await asyncio.gather(*(caller(n) for n in range(callers))))

    started = time.time()
    done = asyncio.run(main())
    return started, time.time(), done


def _callers(url: str, prefix: str, callers: int, per_caller: int, go, results) -> None:
    queue = redis_queue(url, prefix)
    go.wait()
    results.put(_drive(queue, callers, per_caller))


def _in_process_throughput(tasks: int, clients: int) -> float:
    from modules.tasks.queue_memory import InProcessTaskQueue
    from modules.tasks.store_sqlite import SqliteTaskStore
    from modules.tasks.worker import Worker

    with tempfile.TemporaryDirectory() as folder:
        queue = InProcessTaskQueue(SqliteTaskStore(Path(folder) / "tasks.sqlite3"), max_waiting=4096)
        worker = Worker(queue, noop_handlers(), "bench-inproc", poll=0.5)
        queue.start()
        worker.start()
        try:
            started, ended, done = _drive(queue, clients, max(1, tasks // clients))
        finally:
            worker.stop()
            queue.stop()
    return done / (ended - started)


def case_noop_throughput(redis_url: str, tasks: int, clients: int = 64, processes: int = 2) -> None:
    ctx = multiprocessing.get_context("spawn")
    prefix = f"bench-tp-{uuid.uuid4().hex[:6]}:"
    stop, go, results = ctx.Event(), ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_noop_worker, args=(redis_url, prefix, 2, stop)) for _ in range(2)]
    per_caller = max(1, tasks // clients)
    callers = [ctx.Process(target=_callers, args=(redis_url, prefix, clients // processes, per_caller, go, results))
               for _ in range(processes)]
    for proc in workers + callers:
        proc.start()
    time.sleep(3)  # the worker processes import and start listening
    go.set()
    ends = [results.get(timeout=600) for _ in callers]
    stop.set()
    for proc in workers + callers:
        proc.join(timeout=60)
    total = sum(e[2] for e in ends)
    elapsed = max(e[1] for e in ends) - min(e[0] for e in ends)
    alone = _in_process_throughput(tasks, clients)
    print(f"no-op tasks through Redis, {clients} callers over {processes} processes, 2 worker processes x 2 "
          f"threads: {total} tasks in {elapsed:.2f} s = {total / elapsed:.0f} tasks/s (goal >= 1000) | "
          f"in-process queue + SQLite, {clients} callers in one process, one worker: {alone:.0f} tasks/s")


# -- 1. and 4. real Easel processes ----------------------------------------------------------------------------
def _run_images(target, count: int, seed: int) -> float:
    """Images/s of `count` async tasks submitted together (target: a Cluster, or an EaselServer)."""
    from tests.tasks.helpers import SMALL, submit_async, wait_status

    body = {**SMALL, "steps": 12}
    from tests.scaleout.cluster import AUTH, Cluster

    with (target.client() if isinstance(target, Cluster) else target.client(auth=AUTH)) as client:
        ids = [submit_async(client, {**body, "seed": seed + i}) for i in range(count)]
        records = [wait_status(client, t, timeout=900) for t in ids]
    assert all(r["status"] == "succeeded" for r in records), [r["status"] for r in records]
    return count / (max(r["finished_at"] for r in records) - min(r["created_at"] for r in records))


def _alternate_loads(cluster, rounds: int) -> int:
    from tests.tasks.helpers import SMALL, submit_async, wait_status

    with cluster.client() as client:
        for r in range(rounds):
            ids = [submit_async(client, {**SMALL, "seed": r, "override_settings": {"sd_model_checkpoint": name}})
                   for name in ("tiny-a", "tiny-b")]
            for task_id in ids:
                assert wait_status(client, task_id, timeout=300)["status"] == "succeeded"
    return cluster.loads()


def case_processes(redis_url: str, images: int, rounds: int) -> None:
    from tests.scaleout.cluster import API_AUTH, ONE_THREAD, Cluster, start_all
    from tests.support import EaselServer, make_data_dir, wait_for

    root = Path(tempfile.mkdtemp(prefix="easel-scale-out-"))
    data_dir = make_data_dir(root, {"tiny-a.safetensors": 0, "tiny-b.safetensors": 1})
    cluster = Cluster.create(data_dir, redis_url, "--worker-heartbeat", "0.5")
    embedded = EaselServer(data_dir, "--ckpt", "tiny-a", "--api-auth", API_AUTH, env=ONE_THREAD).start(timeout=240)
    try:
        _run_images(embedded, 2, seed=0)
        alone = _run_images(embedded, images, seed=1000)
    finally:
        embedded.stop()
    try:
        cluster.apis = start_all([cluster.api()])
        cluster.workers = start_all([cluster.worker()])
        with cluster.client() as client:
            wait_for(lambda: len(client.get("/internal/workers").json()["workers"]) == 1, timeout=120)
        _run_images(cluster, 2, seed=0)  # warm-up
        one = _run_images(cluster, images, seed=1000)
        cluster.workers += start_all([cluster.worker()])
        with cluster.client() as client:
            wait_for(lambda: all(w["loaded"] for w in client.get("/internal/workers").json()["workers"])
                     and len(client.get("/internal/workers").json()["workers"]) == 2, timeout=120)
        _run_images(cluster, 4, seed=0)  # warm-up of the second worker
        two = _run_images(cluster, images, seed=2000)
        print(f"images/s, tiny model 64x64 x 12 steps, {images} tasks: embedded (no Redis) {alone:.2f} | "
              f"1 worker {one:.2f} | 2 workers {two:.2f} | ratio 2/1 workers {two / one:.2f} (goal >= 1.8)")
        loads = {}
        for label, flags in (("affinity", ()), ("FIFO (--no-affinity)", ("--no-affinity",))):
            for worker in cluster.workers:
                worker.stop()
            cluster.workers = start_all([cluster.worker(*flags) for _ in range(2)])
            with cluster.client() as client:
                wait_for(lambda: len(client.get("/internal/workers").json()["workers"]) == 2, timeout=120)
            loads[label] = _alternate_loads(cluster, rounds)
        print(f"checkpoint loads, {rounds} rounds of tiny-a + tiny-b over 2 workers (2 start-up loads included): "
              + " | ".join(f"{k} {v}" for k, v in loads.items()) + " (goal: affinity <= 2 workers x 2 checkpoints = 4)")
    finally:
        cluster.stop()


def main() -> None:
    from tests.redis_support import RedisServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--trips", type=int, default=300)
    parser.add_argument("--noop-tasks", type=int, default=2000)
    parser.add_argument("--skip-processes", action="store_true", help="only the queue cases (2 and 3)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="easel-bench-redis-"))
    redis = RedisServer(folder).start()
    try:
        case_round_trip(redis.url, args.trips)
        case_noop_throughput(redis.url, args.noop_tasks)
        if not args.skip_processes:
            case_processes(redis.url, args.images, args.rounds)
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
