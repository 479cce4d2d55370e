"""Puts the user directory into built services: quotas at submission, per-user running limits in the queue."""
from __future__ import annotations

from typing import TYPE_CHECKING

from modules.users.directory import UserDirectory
from modules.users.quota import UserQuotas

if TYPE_CHECKING:
    from modules.services import Services


def attach_users(services: Services) -> None:
    users = services.users = UserDirectory.from_cmd_opts(services.cmd_opts)
    quotas = UserQuotas(users, services.queue)
    services.pipeline.quotas = quotas
    if hasattr(services.queue, "running_limit"):  # the in-process queue schedules per user
        services.queue.running_limit = quotas.running_limit
