"""A thin A1111 compatibility facade for extensions: `shared.opts`, `shared.cmd_opts`, `shared.state`, ...

Core code never imports this module; the composition root fills it once with `bind(services)`.
Extensions written for A1111 read these names, so they keep working.
"""
from __future__ import annotations

from typing import Any

from modules.options import OptionInfo  # noqa: F401  (A1111 extensions use shared.OptionInfo)

services: Any = None
opts: Any = None
cmd_opts: Any = None
data_path: str | None = None
models_path: str | None = None
demo: Any = None


class _State:
    """Read-only view of the running job in A1111's `shared.state` shape."""

    def _task(self):
        return services.tasks.current if services is not None else None

    @property
    def interrupted(self) -> bool:
        task = self._task()
        return bool(task and task.control.interrupted)

    @property
    def skipped(self) -> bool:
        task = self._task()
        return bool(task and task.control.skipped)

    @property
    def job_count(self) -> int:
        task = self._task()
        return task.progress.job_count if task else 0

    @property
    def sampling_step(self) -> int:
        task = self._task()
        return task.progress.sampling_step if task else 0

    def interrupt(self) -> None:
        task = self._task()
        if task:
            task.control.interrupted = True

    def skip(self) -> None:
        task = self._task()
        if task:
            task.control.skipped = True


state = _State()


def bind(bound_services: Any) -> None:
    """Point the facade at the running services (called once by the composition root)."""
    global services, opts, cmd_opts, data_path, models_path
    services = bound_services
    opts = bound_services.options
    cmd_opts = bound_services.cmd_opts
    data_path = str(bound_services.paths.data_dir)
    models_path = str(bound_services.paths.models_dir)


def refresh_checkpoints() -> None:
    services.checkpoints.refresh()
