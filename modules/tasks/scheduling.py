"""Which waiting task a worker gets next: priority levels, round robin between users, model affinity.

The policy is data in, choice out, so the in-process queue and the Redis queue use the same code
(docs/scale-out.md explains it):
- priority: every `high` task goes before any `normal` one, every `normal` before any `low` one;
- fair share: within a level, users take turns (round robin in name order, starting after the user served
  last), each user's own tasks in submission order; tasks without a user count as one user;
- model affinity (workers that hold different checkpoints, i.e. the Redis queue): a worker takes, in that
  order, the first task it can run without a load, or whose checkpoint no worker holds, or whose holders are
  all busy for longer than the worker needs to load it; it leaves a task to an idle worker holding its
  checkpoint.
"""
from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from modules.errors import InvalidRequestError
from modules.tasks.common import PRIORITIES

ANONYMOUS = ""  # the user key of tasks submitted without a user
DEFAULT_LOAD_SECONDS = 5.0  # assumed checkpoint load time until one has been measured
DEFAULT_TASK_SECONDS = 5.0  # assumed task duration until one has been measured
WINDOW = 16  # tasks per user the affinity policy looks at (a user's later tasks wait their turn)


def check_priority(value: str | None, field_name: str = "priority") -> str:
    """`high`, `normal` or `low` (None or empty: normal); anything else is a 422 naming the field."""
    if value is None or value == "":
        return "normal"
    if not isinstance(value, str) or value.strip().lower() not in PRIORITIES:
        raise InvalidRequestError(f"{field_name}: expected one of {', '.join(PRIORITIES)}, got {value!r}",
                                  field=field_name)
    return value.strip().lower()


def user_key(user: str | None) -> str:
    return user or ANONYMOUS


@dataclass(frozen=True)
class Waiting:
    """A waiting task as the scheduler sees it."""

    id: str
    user: str = ANONYMOUS
    priority: str = "normal"
    model: str | None = None
    seq: int = 0  # submission order (a task re-queued after a failure keeps its place)
    enqueued_at: float = 0.0


@dataclass
class Level:
    """The waiting tasks of one priority level: per user, oldest first; `cursor` is the user served last."""

    users: dict[str, list[Waiting]] = field(default_factory=dict)
    cursor: str | None = None


def user_turns(users: list[str] | dict, cursor: str | None) -> list[str]:
    """Users in round-robin order: name order, starting after `cursor`."""
    ordered = sorted(users)
    if cursor is None:
        return ordered
    i = bisect.bisect_right(ordered, cursor)
    return ordered[i:] + ordered[:i]


def run_order(levels: dict[str, Level]) -> Iterator[Waiting]:
    """Every waiting task in the order workers get them when affinity changes nothing."""
    for priority in PRIORITIES:
        level = levels.get(priority)
        if level is None:
            continue
        queues = [list(level.users[u]) for u in user_turns(level.users, level.cursor) if level.users[u]]
        depth = 0
        while queues:
            queues = [q for q in queues if len(q) > depth]
            for q in queues:
                yield q[depth]
            depth += 1


@dataclass(frozen=True)
class WorkerView:
    """A worker as the policy sees it: whether it is idle, the checkpoints it holds, and (when busy) how many
    seconds its running task still needs, estimated."""

    name: str
    idle: bool
    models: frozenset[str] = frozenset()
    remaining: float = 0.0


@dataclass
class Estimates:
    load_seconds: dict[str, float] = field(default_factory=dict)  # measured checkpoint load time per title
    task_seconds: float = DEFAULT_TASK_SECONDS  # average task duration

    def load(self, model: str) -> float:
        return self.load_seconds.get(model, max(self.load_seconds.values(), default=DEFAULT_LOAD_SECONDS))


def choose(levels: dict[str, Level], me: WorkerView | None = None, others: list[WorkerView] | None = None,
           estimates: Estimates | None = None, blocked: frozenset[str] | set[str] = frozenset()) -> Waiting | None:
    """The task the worker `me` should take now, or None (leave everything to other workers). Without `me`
    (one model manager for every worker: the in-process queue) the first task in run order. Users in `blocked`
    (at their max_running_jobs) are passed over."""
    if me is None:
        return next((entry for entry in run_order(levels) if entry.user not in blocked), None)
    others = [w for w in others or [] if w.name != me.name]
    estimates = estimates or Estimates()
    ahead = _same_model_ahead(levels)
    for priority in PRIORITIES:
        level = levels.get(priority)
        if level is None:
            continue
        for user in user_turns(level.users, level.cursor):
            if user in blocked:
                continue
            for entry in level.users[user][:WINDOW]:
                if _should_take(entry, me, others, estimates, ahead.get(entry.id, 0)):
                    return entry
    return None


def _should_take(entry: Waiting, me: WorkerView, others: list[WorkerView], estimates: Estimates,
                 ahead: int) -> bool:
    if entry.model is None or entry.model in me.models:
        return True  # no load needed
    holders = [w for w in others if entry.model in w.models]
    if not holders:
        return True  # someone has to load it, and this worker is free now
    if any(w.idle for w in holders):
        return False  # an idle worker holding it takes it
    # All holders are busy: the first one free starts it after its current task and the tasks for the same
    # checkpoint ahead of this one (shared between the holders); this worker would first load the checkpoint.
    wait = min(w.remaining for w in holders) + ahead * estimates.task_seconds / len(holders)
    return estimates.load(entry.model) < wait


def _same_model_ahead(levels: dict[str, Level]) -> dict[str, int]:
    seen: dict[str | None, int] = {}
    ahead = {}
    for entry in run_order(levels):
        ahead[entry.id] = seen.get(entry.model, 0)
        seen[entry.model] = ahead[entry.id] + 1
    return ahead


class FairQueue:
    """The waiting tasks of the in-process queue: per priority level, per user, oldest first. Not thread-safe
    (the queue holds its lock)."""

    def __init__(self) -> None:
        self.levels: dict[str, Level] = {p: Level() for p in PRIORITIES}
        self._where: dict[str, Waiting] = {}
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def push(self, entry: Waiting) -> None:
        if entry.id in self._where:
            return
        queue = self.levels[entry.priority].users.setdefault(entry.user, [])
        keys = [e.seq for e in queue]
        queue.insert(bisect.bisect_right(keys, entry.seq), entry)
        self._where[entry.id] = entry

    def remove(self, task_id: str) -> bool:
        entry = self._where.pop(task_id, None)
        if entry is None:
            return False
        level = self.levels[entry.priority]
        queue = level.users[entry.user]
        queue.remove(entry)
        if not queue:
            del level.users[entry.user]
        return True

    def take(self, chooser: Callable[[dict[str, Level]], Waiting | None] = choose) -> Waiting | None:
        """Remove and return the chosen task; its user becomes the cursor of its level."""
        entry = chooser(self.levels)
        if entry is None:
            return None
        self.remove(entry.id)
        self.levels[entry.priority].cursor = entry.user
        return entry

    def ids(self) -> list[str]:
        return [e.id for e in run_order(self.levels)]

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._where

    def __len__(self) -> int:
        return len(self._where)

    def __bool__(self) -> bool:
        return bool(self._where)
