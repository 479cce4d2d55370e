"""A thin A1111 compatibility facade for extensions: `shared.opts`, `shared.cmd_opts`, `shared.state`, ...

Core code never imports this module; the composition root binds it with `bind(services)`. The names resolve
when read: on a worker thread, to the services of that worker; in a request, to the services of the app serving it
(so scripts and extension routes see their own server even when tests run several servers in one process); else
to the most recently bound services.
Extensions written for A1111 read these names, so they keep working.
"""
from __future__ import annotations

import threading
from contextvars import ContextVar, Token
from typing import Any

from modules.options import OptionInfo  # noqa: F401  (A1111 extensions use shared.OptionInfo)

demo: Any = None
_bound: list[Any] = []
_thread = threading.local()
_request: ContextVar[Any] = ContextVar("easel_request_services", default=None)
_NAMES = {
    "services": lambda s: s,
    "opts": lambda s: s.options,
    "cmd_opts": lambda s: s.cmd_opts,
    "data_path": lambda s: str(s.paths.data_dir),
    "models_path": lambda s: str(s.paths.models_dir),
}


def _current() -> Any:
    return getattr(_thread, "services", None) or _request.get() or (_bound[-1] if _bound else None)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        services = _current()
        return _NAMES[name](services) if services is not None else None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _State:
    """A1111's `shared.state` over the task queue: the job of the calling worker thread (scripts), else the
    first running task (extension routes). Reads return data; interrupt/skip go through the queue."""

    def _job(self):
        from modules.tasks.worker import current_job

        return current_job()

    def _progress(self):
        job = self._job()
        if job is not None:
            return job.progress
        services = _current()
        running = services.queue.running() if services is not None else []
        return services.queue.progress(running[0].id) if running else None

    @property
    def interrupted(self) -> bool:
        job = self._job()
        if job is not None:
            return job.control.interrupted
        progress = self._progress()
        return bool(progress and progress.interrupted)

    @property
    def skipped(self) -> bool:
        job = self._job()
        if job is not None:
            return job.control.skipped
        progress = self._progress()
        return bool(progress and progress.skipped)

    @property
    def job_count(self) -> int:
        progress = self._progress()
        return progress.job_count if progress else 0

    @property
    def sampling_step(self) -> int:
        progress = self._progress()
        return progress.sampling_step if progress else 0

    def interrupt(self) -> None:
        job = self._job()
        if job is not None:
            job.control.interrupted = True
        elif _current() is not None:
            _current().queue.interrupt()

    def skip(self) -> None:
        job = self._job()
        if job is not None:
            job.control.skipped = True
        elif _current() is not None:
            _current().queue.skip()


state = _State()


def bind(services: Any) -> None:
    """Point the facade at these services (the composition root calls it once per server)."""
    _bound.append(services)


def unbind(services: Any) -> None:
    """Forget a stopped server; the facade points at the one bound before it again."""
    for i in range(len(_bound) - 1, -1, -1):
        if _bound[i] is services:
            del _bound[i]
            return


def bind_thread(services: Any) -> None:
    """On this thread (a worker's), the facade resolves to `services` whatever was bound later."""
    _thread.services = services


def bind_request(services: Any) -> Token:
    """While a request is served (and in the threads it hands work to), the facade resolves to `services`."""
    return _request.set(services)


def unbind_request(token: Token) -> None:
    _request.reset(token)


def refresh_checkpoints() -> None:
    _current().checkpoints.refresh()
