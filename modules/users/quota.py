"""Per-user limits at submission and in the queue: a user's default priority goes on each task record, more than
`max_waiting_tasks` waiting tasks of one user is a 429 naming the limit (Retry-After: the queue's estimate), and
`max_running_jobs` tells the queue how many of a user's tasks may run at once."""
from __future__ import annotations

from modules.errors import QueueFullError
from modules.tasks.common import PRIORITIES, TaskStatus
from modules.tasks.queue_base import TaskQueue
from modules.tasks.store_base import TaskRecord
from modules.users.directory import UserDirectory


class UserQuotas:
    def __init__(self, users: UserDirectory, queue: TaskQueue):
        self.users, self.queue = users, queue

    def admit(self, record: TaskRecord, *, explicit_priority: bool = False) -> None:
        """Before the record is queued: its priority (the user's default; a priority the request chose is kept
        for an admin, and for a user only up to their default), and the user's waiting-task limit."""
        user = self.users.get(record.user)
        if user is None:
            return
        if not explicit_priority:
            record.priority = user.quota.priority
        elif not user.is_admin and PRIORITIES.index(record.priority) < PRIORITIES.index(user.quota.priority):
            record.priority = user.quota.priority  # a user cannot jump above their own default
        limit = user.quota.max_waiting_tasks
        if limit is None:
            return
        waiting = len(self.queue.store.list(user=user.name, status=[TaskStatus.WAITING], limit=limit + 1))
        if waiting >= limit:
            raise QueueFullError(f"user {user.name!r} has {waiting} tasks waiting: the max_waiting_tasks limit is "
                                 f"{limit}; try again when one has started", retry_after=self.queue.retry_after(),
                                 field="max_waiting_tasks")

    def running_limit(self, name: str | None) -> int | None:
        user = self.users.get(name)
        return user.quota.max_running_jobs if user is not None else None
