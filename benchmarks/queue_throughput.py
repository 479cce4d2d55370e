"""Tasks per second through the task queue (SQLite store, in-process worker) with the engine stubbed out by a
no-op pipeline, and the p50/p99 submit-to-start latency at 1, 8 and 64 concurrent clients.

Each client is a thread that submits a task and waits for its result, in a loop (a closed loop, as API callers
are). Run: venv/bin/python benchmarks/queue_throughput.py [--tasks 400]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modules.tasks.common import Task  # noqa: E402
from modules.tasks.queue_memory import InProcessTaskQueue  # noqa: E402
from modules.tasks.store_sqlite import SqliteTaskStore  # noqa: E402


def noop_pipeline(task: Task) -> dict:
    """Stands in for the engine: no model, no sampling; records an empty outcome like a real run does."""
    task.progress.job_count = 1
    task.progress.job_no = 1
    task.outcome["info"] = {"noop": True}
    return {"images": []}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(clients: int, total: int, folder: Path) -> dict:
    store = SqliteTaskStore(folder / f"bench-{clients}.sqlite3")
    queue = InProcessTaskQueue(store, max_waiting=max(1024, clients * 2), progress_interval=1.0)
    queue.start()
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = max(1, total // clients)

    def client(n: int) -> None:
        for i in range(per_client):
            task = Task(kind="txt2img", run=noop_pipeline, params={"prompt": f"{n}-{i}"})
            submitted = time.time()
            queue.submit(task)
            task.future.result(timeout=60)
            with lock:
                latencies.append(task.started_at - submitted)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    queue.stop()
    store.close()
    done = len(latencies)
    return {"clients": clients, "tasks": done, "seconds": elapsed, "tasks_per_s": done / elapsed,
            "p50_ms": statistics.median(latencies) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=400, help="tasks per concurrency level")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="easel-bench-") as tmp:
        print(f"{'clients':>8} {'tasks':>6} {'tasks/s':>9} {'p50 submit->start':>18} {'p99 submit->start':>18}")
        for clients in (1, 8, 64):
            r = run(clients, args.tasks, Path(tmp))
            print(f"{r['clients']:>8} {r['tasks']:>6} {r['tasks_per_s']:>9.1f} {r['p50_ms']:>15.2f} ms "
                  f"{r['p99_ms']:>15.2f} ms")


if __name__ == "__main__":
    main()
