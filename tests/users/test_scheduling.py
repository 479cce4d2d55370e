"""The in-process queue's order: users take turns, priorities first, per-user running limits; and the login
throttle's clock-driven lockout (per name and per address)."""
from __future__ import annotations

import pytest

from modules.tasks.queue_memory import InProcessTaskQueue
from modules.tasks.store_base import TaskRecord
from modules.tasks.store_sqlite import SqliteTaskStore
from modules.users.throttle import LockedOut, LoginThrottle, ThrottleSettings


@pytest.fixture()
def queue(tmp_path):
    store = SqliteTaskStore(tmp_path / "tasks.db")
    queue = InProcessTaskQueue(store, max_waiting=100)
    queue.start()
    yield queue
    queue.stop()
    store.close()


def _submit(queue, task_id: str, user: str, priority: str = "normal") -> None:
    queue.submit(TaskRecord(id=task_id, kind="txt2img", user=user, priority=priority, payload={}))


def _run_next(queue) -> str:
    job = queue.claim("w", timeout=1)
    assert job is not None
    queue.complete(job, job.record.status.SUCCEEDED)
    return job.id


def test_twenty_tasks_of_one_user_do_not_starve_anothers_one(queue):
    for i in range(20):
        _submit(queue, f"a{i}", "alice")
    assert _run_next(queue) == "a0"
    _submit(queue, "b0", "bob")
    assert [r.id for r in queue.pending()][:2] == ["b0", "a1"]  # positions follow the run order
    assert [_run_next(queue) for _ in range(2)] == ["b0", "a1"]
    _submit(queue, "b1", "bob")
    _submit(queue, "b2", "bob")
    assert [_run_next(queue) for _ in range(4)] == ["b1", "a2", "b2", "a3"]  # turns while both wait


def test_priority_first_then_turns(queue):
    _submit(queue, "low", "carol", "low")
    _submit(queue, "n1", "alice")
    _submit(queue, "high", "bob", "high")
    assert [_run_next(queue) for _ in range(3)] == ["high", "n1", "low"]


def test_a_user_at_their_running_limit_is_passed_over(queue):
    queue.running_limit = lambda user: 1 if user == "alice" else None
    _submit(queue, "a0", "alice")
    _submit(queue, "a1", "alice")
    _submit(queue, "b0", "bob")
    first = queue.claim("w1", timeout=1)
    assert first is not None and first.id == "a0"
    second = queue.claim("w2", timeout=1)  # alice has one running: bob's goes, alice's second waits
    assert second is not None and second.id == "b0"
    assert queue.claim("w3", timeout=0.05) is None
    queue.complete(first, first.record.status.SUCCEEDED)
    third = queue.claim("w3", timeout=1)
    assert third is not None and third.id == "a1"


def test_throttle_locks_names_and_addresses_for_a_while():
    now = [1000.0]
    throttle = LoginThrottle(ThrottleSettings(max_failures=2, window=60, lockout=30, address_max_failures=3),
                             clock=lambda: now[0])
    throttle.failed(throttle.keys("ann", "10.0.0.1"))
    throttle.check(throttle.keys("ann", "10.0.0.1"))  # one failure: still allowed
    throttle.failed(throttle.keys("ann", "10.0.0.1"))
    with pytest.raises(LockedOut) as locked:
        throttle.check(throttle.keys("ann", "10.0.0.2"))
    assert locked.value.key == "user:ann" and locked.value.retry_after == 30
    throttle.failed(throttle.keys("bea", "10.0.0.1"))  # third failure from the address, any name
    with pytest.raises(LockedOut) as by_address:
        throttle.check(throttle.keys("cid", "10.0.0.1"))
    assert by_address.value.key == "addr:10.0.0.1"
    now[0] += 31
    throttle.check(throttle.keys("ann", "10.0.0.1"))  # the lockout has passed
