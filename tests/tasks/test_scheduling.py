"""The scheduler's policy as data in, choice out (modules/tasks/scheduling.py; docs/scale-out.md)."""
from __future__ import annotations

import pytest

from modules.errors import InvalidRequestError
from modules.tasks.redis_registry import worker_view
from modules.tasks.scheduling import Estimates, FairQueue, Waiting, WorkerView, check_priority, choose


def queue_of(*entries: Waiting) -> FairQueue:
    fair = FairQueue()
    for entry in entries:
        fair.push(entry)
    return fair


def task(task_id: str, model: str | None = None, user: str = "ann", priority: str = "normal", seq: int = 0) -> Waiting:
    return Waiting(task_id, user, priority, model, seq or int(task_id.strip("t") or 0))


ME = WorkerView("me", idle=True, models=frozenset({"a"}))


def test_a_worker_takes_its_own_checkpoints_task_before_an_earlier_one_another_idle_worker_holds():
    fair = queue_of(task("t1", "b"), task("t2", "a"))
    others = [WorkerView("other", idle=True, models=frozenset({"b"}))]
    assert choose(fair.levels, ME, others).id == "t2"


def test_a_task_no_worker_holds_is_taken_by_whoever_is_free():
    fair = queue_of(task("t1", "c"))
    assert choose(fair.levels, ME, [WorkerView("other", idle=True, models=frozenset({"b"}))]).id == "t1"


def test_it_waits_for_a_busy_holder_unless_loading_here_is_sooner():
    fair = queue_of(task("t1", "b"))
    busy_briefly = [WorkerView("other", idle=False, models=frozenset({"b"}), remaining=1.0)]
    busy_long = [WorkerView("other", idle=False, models=frozenset({"b"}), remaining=30.0)]
    estimates = Estimates(load_seconds={"b": 4.0}, task_seconds=2.0)
    assert choose(fair.levels, ME, busy_briefly, estimates) is None  # the holder is free in 1 s < a 4 s load
    assert choose(fair.levels, ME, busy_long, estimates).id == "t1"  # 30 s > 4 s: load it here


def test_tasks_for_the_same_checkpoint_ahead_count_in_the_holders_wait():
    estimates = Estimates(load_seconds={"b": 4.0}, task_seconds=2.0)
    holder = [WorkerView("other", idle=False, models=frozenset({"b"}), remaining=1.0)]
    # t1..t3 are for b: t3 waits 1 s + 2 tasks x 2 s = 5 s for the holder, more than the 4 s load here
    fair = queue_of(task("t1", "b"), task("t2", "b"), task("t3", "b"))
    levels = fair.levels
    assert choose(levels, ME, holder, estimates).id == "t3"


def test_priority_levels_then_users_in_turns():
    fair = queue_of(task("t1", user="ann"), task("t2", user="ann"), task("t3", user="ann"),
                    task("t4", user="bob"), task("t5", user="cid", priority="low"), task("t6", user="dan",
                                                                                          priority="high"))
    taken = [fair.take().id for _ in range(6)]
    assert taken == ["t6", "t1", "t4", "t2", "t3", "t5"]


def test_a_user_with_many_tasks_does_not_starve_a_late_one():
    fair = queue_of(*[task(f"t{i}", user="ann", seq=i) for i in range(1, 501)])
    assert fair.take().id == "t1"
    fair.push(task("bob-1", user="bob", seq=1000))
    assert fair.take().id == "bob-1"


def test_priority_values():
    assert check_priority(None) == "normal" and check_priority(" HIGH ") == "high" and check_priority("") == "normal"
    with pytest.raises(InvalidRequestError) as error:
        check_priority("urgent")
    assert error.value.field == "priority"


def test_a_holder_busy_with_a_long_task_is_not_waited_for_forever():
    estimates = Estimates(load_seconds={"b": 4.0}, task_seconds=2.0)
    fair = queue_of(task("t1", "b"))
    holder = {"name": "other", "state": "busy", "models": ["b"], "task_started": 100.0}
    assert worker_view(holder, estimates.task_seconds, now=101.0).remaining == 1.0  # the average says 1 s more
    assert choose(fair.levels, ME, [worker_view(holder, 2.0, now=101.0)], estimates) is None
    # after 10 s of a usually 2 s task it is expected to run about 10 s more: loading here (4 s) is sooner
    assert worker_view(holder, 2.0, now=110.0).remaining == 10.0
    assert choose(fair.levels, ME, [worker_view(holder, 2.0, now=110.0)], estimates).id == "t1"
