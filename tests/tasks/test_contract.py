"""The contract every TaskStore and TaskQueue implementation passes. Add an implementation to STORES / QUEUES
(the scale-out issue adds Redis) and the whole suite runs against it."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modules.errors import ConflictError, NotFoundError, QueueFullError
from modules.tasks.common import TaskStatus
from modules.tasks.queue_base import TaskQueue
from modules.tasks.queue_memory import CRASHED_TWICE, InProcessTaskQueue
from modules.tasks.store_base import TaskRecord, TaskStore
from modules.tasks.store_sqlite import SqliteTaskStore

StoreFactory = Callable[[Path, str], TaskStore]  # (folder, Redis key prefix) -> a store over that data
QueueFactory = Callable[[TaskStore, int], TaskQueue]


def _redis_store(root: Path, prefix: str) -> TaskStore:
    from modules.tasks.store_redis import RedisTaskStore

    return RedisTaskStore(CURRENT_REDIS["url"], prefix=prefix)


def _redis_queue(store: TaskStore, bound: int) -> TaskQueue:
    from modules.tasks.queue_redis import RedisTaskQueue

    return RedisTaskQueue(store, max_waiting=bound, heartbeat=0.2)


CURRENT_REDIS: dict[str, str] = {}
STORES: dict[str, StoreFactory] = {"sqlite": lambda root, _prefix: SqliteTaskStore(root / "tasks.sqlite3"),
                                   "redis": _redis_store}
QUEUES: dict[str, QueueFactory] = {"memory": lambda store, bound: InProcessTaskQueue(store, max_waiting=bound),
                                   "redis": _redis_queue}
PAIRS = [("memory", "sqlite"), ("memory", "redis"), ("redis", "redis")]  # (queue, store) that work together


def pytest_generate_tests(metafunc):
    """Queue tests run for each working (queue, store) pair; store-only tests for each store."""
    if "make_queue" in metafunc.fixturenames:
        metafunc.parametrize("kinds", PAIRS, ids=[f"{q}-{s}" for q, s in PAIRS])
    elif "make_store" in metafunc.fixturenames:
        metafunc.parametrize("kinds", [(None, s) for s in STORES], ids=list(STORES))


def record(task_id: str, **fields) -> TaskRecord:
    return TaskRecord(id=task_id, kind=fields.pop("kind", "txt2img"), payload=fields.pop("payload", {"x": 1}),
                      **fields)


@pytest.fixture()
def make_store(kinds, request, tmp_path) -> Iterator[Callable[[], TaskStore]]:
    made: list[TaskStore] = []
    kind = kinds[1]
    if kind == "redis":
        CURRENT_REDIS["url"] = request.getfixturevalue("redis_server").url
    prefix = f"contract-{uuid.uuid4().hex[:12]}:"

    def make() -> TaskStore:  # a second call opens the same data again (a restarted process)
        store = STORES[kind](tmp_path, prefix)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture()
def make_queue(kinds, make_store) -> Iterator[Callable[..., TaskQueue]]:
    made: list[TaskQueue] = []

    def make(bound: int = 8, store: TaskStore | None = None) -> TaskQueue:
        queue = QUEUES[kinds[0]](store or make_store(), bound)
        queue.start()
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.stop()


# -- TaskStore -------------------------------------------------------------------------------------------------
def test_store_keeps_a_record_as_data(make_store):
    store = make_store()
    created = store.create(record("t1", user="ann", model="m [abc]", priority="high", params={"prompt": "x"},
                                  payload={"prompt": "x", "steps": 3}, inputs=["tasks/t1/inputs/a.png"]))
    assert created.created_at > 0
    got = store.get("t1")
    assert (got.kind, got.user, got.model, got.priority, got.status) == ("txt2img", "ann", "m [abc]", "high",
                                                                        TaskStatus.WAITING)
    assert got.payload == {"prompt": "x", "steps": 3} and got.inputs == ["tasks/t1/inputs/a.png"]
    assert store.get("nope") is None
    with pytest.raises(ConflictError):
        store.create(record("t1"))


def test_store_transitions(make_store):
    store = make_store()
    store.create(record("a"))
    assert store.mark_running("a", 10.0).runs == 1
    assert store.mark_running("a", 11.0) is None  # only a waiting task starts
    store.set_progress("a", 0.5, {"job_no": 1})
    assert store.get("a").progress == 0.5 and store.get("a").progress_state == {"job_no": 1}
    store.requeue("a")
    again = store.get("a")
    assert again.status == TaskStatus.WAITING and again.runs == 1
    store.mark_running("a", 12.0)
    item = store.finish("a", TaskStatus.FAILED, error="boom", error_code=422, finished_at=13.0)
    assert item is not None and item.task_id == "a"
    assert store.finish("a", TaskStatus.SUCCEEDED, finished_at=14.0) is None  # finished once
    done = store.get("a")
    assert (done.status, done.error, done.error_code, done.runs) == (TaskStatus.FAILED, "boom", 422, 2)


def test_store_usage_and_result_keys(make_store):
    from modules.tasks.usage import TaskUsage

    store = make_store()
    for task_id, user, finished in (("u1", "ann", 20.0), ("u2", "bob", 30.0), ("u3", "ann", 40.0)):
        store.create(record(task_id, user=user))
        store.mark_running(task_id, finished - 5)
        store.record_usage(task_id, TaskUsage(run_seconds=2.5, cpu_seconds=2.0, images=1, pixels=4096))
        store.finish(task_id, TaskStatus.SUCCEEDED, images=[f"tasks/{task_id}/00000.png"], finished_at=finished)
    assert store.get("u1").usage == TaskUsage(run_seconds=2.5, cpu_seconds=2.0, images=1, pixels=4096)
    assert [r.id for r in store.list_usage()] == ["u1", "u2", "u3"]
    assert [r.id for r in store.list_usage(since=25.0, until=40.0)] == ["u2"]
    assert [r.id for r in store.list_usage(user="ann")] == ["u1", "u3"]
    store.set_result_key("u1", "k")
    store.set_result_key("u3", "k")
    assert store.find_result("ann", "k").id == "u3" and store.find_result("bob", "k") is None
    store.mark_purged("u3", params={}, purged_at=50.0)
    assert store.find_result("ann", "k").id == "u1"  # a purged result is not served again


def test_store_remembers_a_cancel_request(make_store):
    store = make_store()
    store.create(record("c"))
    store.mark_running("c", 1.0)
    store.request_cancel("c")
    assert make_store().get("c").cancel_requested  # durable: another connection (a restart) sees it


def test_store_lists_and_counts(make_store):
    store = make_store()
    for i, user in enumerate(["ann", "bob", "ann"]):
        store.create(record(f"t{i}", user=user, created_at=100.0 + i))
    store.mark_running("t1", 200.0)
    assert [r.id for r in store.list()] == ["t2", "t1", "t0"]
    assert [r.id for r in store.list(user="ann")] == ["t2", "t0"]
    assert [r.id for r in store.list(status=[TaskStatus.RUNNING])] == ["t1"]
    assert [r.id for r in store.list_unfinished()] == ["t0", "t1", "t2"]
    assert store.count(TaskStatus.WAITING) == 2


def test_store_idempotency_and_webhook_state(make_store):
    store = make_store()
    store.create(record("i1", user="ann", idempotency_key="k", created_at=time.time()))
    assert store.find_idempotent("ann", "k", time.time() - 60).id == "i1"
    assert store.find_idempotent("bob", "k", time.time() - 60) is None
    assert store.find_idempotent("ann", "k", time.time() + 60) is None
    store.record_webhook("i1", {"state": "delivered", "attempts": [{"attempt": 1}]})
    assert store.get("i1").webhook["state"] == "delivered"


def test_store_result_stream(make_store):
    store = make_store()
    for task_id, user in (("s1", "ann"), ("s2", "bob"), ("s3", "ann")):
        store.create(record(task_id, user=user))
        store.finish(task_id, TaskStatus.SUCCEEDED, finished_at=time.time())
    items = store.sink_read(after=0, user=None, consumer="c", limit=10)
    assert [i.task_id for i in items] == ["s1", "s2", "s3"] and store.sink_last_index() == items[-1].index
    assert [i.task_id for i in store.sink_read(after=0, user="ann", consumer="c", limit=10)] == ["s1", "s3"]
    assert store.sink_commit("c", [items[0].index]) == 1
    assert store.sink_commit("c", [items[0].index]) == 0
    assert [i.task_id for i in store.sink_read(after=0, user=None, consumer="c", limit=10)] == ["s2", "s3"]
    assert len(store.sink_read(after=0, user=None, consumer="other", limit=10)) == 3


# -- TaskQueue -------------------------------------------------------------------------------------------------
def test_queue_hands_out_records_in_order(make_queue):
    queue = make_queue()
    for i in range(3):
        queue.submit(record(f"q{i}"))
    assert [r.id for r in queue.pending()] == ["q0", "q1", "q2"] and queue.position("q1") == 2
    job = queue.claim("w", timeout=1)
    assert job.id == "q0" and job.record.status == TaskStatus.RUNNING and job.record.payload == {"x": 1}
    assert [r.id for r in queue.running()] == ["q0"] and [r.id for r in queue.pending()] == ["q1", "q2"]
    assert queue.claim("w", timeout=0.01).id == "q1"


def test_queue_claim_gives_nothing_when_empty(make_queue):
    assert make_queue().claim("w", timeout=0.2) is None


def test_queue_bound_and_conflicts(make_queue):
    queue = make_queue(bound=2)
    queue.submit(record("b1"))
    queue.submit(record("b2"))
    with pytest.raises(QueueFullError) as full:
        queue.submit(record("b3"))
    assert full.value.retry_after >= 1
    queue.claim("w", timeout=1)
    with pytest.raises(ConflictError):
        queue.submit(record("b2"))


def test_queue_progress_and_preview_are_data(make_queue):
    queue = make_queue()
    queue.submit(record("p"))
    job = queue.claim("w", timeout=1)
    job.progress.job_count, job.progress.sampling_steps, job.progress.sampling_step = 1, 10, 4
    job.report()
    seen = queue.progress("p")
    assert (seen.sampling_step, seen.sampling_steps) == (4, 10) and seen is not job.progress
    assert queue.progress("unknown") is None
    assert queue.preview("p") is None  # no latents published yet


def test_queue_cancel_waiting_and_running(make_queue):
    queue = make_queue()
    queue.submit(record("run"))
    queue.submit(record("wait"))
    job = queue.claim("w", timeout=1)
    assert queue.cancel("wait").status == TaskStatus.CANCELLED
    assert [r.id for r in queue.pending()] == []
    running = queue.cancel("run")
    assert running.status == TaskStatus.RUNNING and running.cancel_requested and job.control.interrupted
    with pytest.raises(NotFoundError):
        queue.cancel("missing")


def test_queue_interrupt_and_skip_reach_the_job(make_queue):
    queue = make_queue()
    assert queue.interrupt() is None and queue.skip() is None
    queue.submit(record("j"))
    job = queue.claim("w", timeout=1)
    assert queue.skip("j") == "j" and job.control.skipped and not job.control.interrupted
    assert queue.interrupt() == "j" and job.control.interrupted


def test_queue_complete_tells_waiters_and_listeners_once(make_queue):
    queue = make_queue()
    finished = []
    queue.on_finished.append(lambda r: finished.append(r.id))
    queue.submit(record("done"))
    job = queue.claim("w", timeout=1)

    async def wait_then_complete() -> TaskRecord:
        waiting = asyncio.create_task(queue.wait("done", timeout=30))
        await asyncio.sleep(0)  # let the waiter start waiting, then finish the task from a worker thread
        await asyncio.to_thread(queue.complete, job, TaskStatus.SUCCEEDED, images=["tasks/done/00000.png"],
                                info={"seed": 1})
        return await waiting

    result = asyncio.run(wait_then_complete())
    assert result.status == TaskStatus.SUCCEEDED and result.images == ["tasks/done/00000.png"]
    assert result.info == {"seed": 1} and finished == ["done"]
    assert queue.running() == []


def test_queue_wait_times_out_with_the_current_record(make_queue):
    queue = make_queue()
    queue.submit(record("slow"))
    assert asyncio.run(queue.wait("slow", timeout=0.2)).status == TaskStatus.WAITING
    with pytest.raises(NotFoundError):
        asyncio.run(queue.wait("missing", timeout=0.2))


def test_queue_recovers_stored_tasks_on_start(make_store, make_queue):
    store = make_store()
    for task_id in ("waiting", "running-once", "running-twice", "cancelled-running", "no-payload"):
        store.create(record(task_id, payload=None if task_id == "no-payload" else {"x": 1}))
    for task_id in ("running-once", "running-twice", "cancelled-running"):
        store.mark_running(task_id, 1.0)
    store.requeue("running-twice")
    store.mark_running("running-twice", 2.0)  # started twice: a second crash
    store.request_cancel("cancelled-running")
    queue = make_queue(store=make_store())
    assert [r.id for r in queue.pending()] == ["waiting", "running-once"]
    assert store.get("running-twice").error == CRASHED_TWICE
    assert store.get("cancelled-running").status == TaskStatus.CANCELLED
    assert store.get("no-payload").status == TaskStatus.FAILED


def test_a_task_recorded_by_one_queue_runs_on_another(make_store, make_queue):
    """Any process that reaches the store can run a stored task: it is data."""
    first = make_queue(store=make_store())
    first.submit(record("shared", payload={"prompt": "cat"}))
    second = make_queue(store=make_store())
    job = second.claim("other-worker", timeout=1)
    assert job.id == "shared" and job.record.payload == {"prompt": "cat"}
    assert first.claim("w", timeout=0.1) is None  # already running elsewhere: not handed out twice
    second.complete(job, TaskStatus.SUCCEEDED, images=["k"])
    assert asyncio.run(first.wait("shared", timeout=5)).status == TaskStatus.SUCCEEDED


def _drain(queue: TaskQueue, count: int) -> list[str]:
    """Claim and complete `count` tasks in a row, as one worker does; their ids in run order."""
    order = []
    for _ in range(count):
        job = queue.claim("w", timeout=5)
        assert job is not None
        order.append(job.id)
        queue.complete(job, TaskStatus.SUCCEEDED)
    return order


def test_queue_priority_levels(make_queue):
    queue = make_queue(bound=16)
    for task_id, priority in (("n1", "normal"), ("l1", "low"), ("h1", "high"), ("n2", "normal"), ("h2", "high")):
        queue.submit(record(task_id, priority=priority))
    assert [r.id for r in queue.pending()] == ["h1", "h2", "n1", "n2", "l1"]
    assert queue.position("l1") == 5
    assert _drain(queue, 5) == ["h1", "h2", "n1", "n2", "l1"]


def test_queue_fair_share_between_users(make_queue):
    """User A queues 20, then user B one: B's task finishes within the next two tasks."""
    queue = make_queue(bound=32)
    for i in range(20):
        queue.submit(record(f"a{i:02d}", user="ann"))
    first = queue.claim("w", timeout=5)  # A's first task is already running when B submits
    queue.submit(record("b0", user="bob"))
    assert queue.position("b0") <= 2
    queue.complete(first, TaskStatus.SUCCEEDED)
    assert "b0" in _drain(queue, 2)
    rest = _drain(queue, 18)
    assert rest == sorted(rest)  # A's own tasks keep their order


def test_queue_round_robin_over_three_users(make_queue):
    queue = make_queue(bound=32)
    for user, count in (("ann", 4), ("bob", 2), ("cid", 1)):
        for i in range(count):
            queue.submit(record(f"{user}{i}", user=user))
    assert _drain(queue, 7) == ["ann0", "bob0", "cid0", "ann1", "bob1", "ann2", "ann3"]


def test_queue_max_delivery_retries_server_errors_only(make_queue):
    queue = make_queue()
    queue.max_delivery = 2
    queue.submit(record("flaky"))
    queue.submit(record("refused"))
    job = queue.claim("w", timeout=5)
    assert job.id == "flaky"
    again = queue.complete(job, TaskStatus.FAILED, error="CUDA out of memory", error_code=500)
    assert again.status == TaskStatus.WAITING and queue.position("flaky") == 1  # its place kept
    job = queue.claim("w", timeout=5)
    assert (job.id, job.record.runs) == ("flaky", 2)
    final = queue.complete(job, TaskStatus.FAILED, error="CUDA out of memory", error_code=500)
    assert final.status == TaskStatus.FAILED and final.runs == 2
    job = queue.claim("w", timeout=5)
    assert queue.complete(job, TaskStatus.FAILED, error="steps: too many", error_code=422).status == \
        TaskStatus.FAILED  # the request's own fault: never retried
    letters = queue.dead_letters()
    assert [d["task_id"] for d in letters] == ["refused", "flaky"]
    assert letters[1]["error"] == "CUDA out of memory" and letters[1]["deliveries"] == 2
