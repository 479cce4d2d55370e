"""Restarting the server in place ("Apply and restart UI", "Reload UI"; A1111's modules/restart.py).

`launch.py` marks the process restartable. A restart request lets the server stop gracefully: the running
uvicorn server is told to exit, so running requests and streams end as on any stop. (Not a SIGTERM to itself:
uvicorn re-raises a captured signal after shutting down, which would kill the process before it can restart.)
When uvicorn has returned, `launch.py` runs itself again with the same command line (`os.execv`: same process
id, same log), which reads config.json again: enabled extensions, localization and every option.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)
_state: dict = {"restartable": False, "stop": None}
_requested = threading.Event()


def set_stopper(stop: Callable[[], None] | None) -> None:
    """How the running server is asked to stop (modules/api/serve.py registers it); None: SIGTERM."""
    _state["stop"] = stop


def _stop() -> None:
    stop = _state["stop"]
    if stop is not None:
        stop()
    else:
        os.kill(os.getpid(), signal.SIGTERM)


def enable() -> None:
    _state["restartable"] = True


def is_restartable() -> bool:
    return _state["restartable"]


def request_restart(delay: float = 0.5) -> None:
    """Stop the server (after `delay`, so the caller's answer goes out first) and start it again."""
    if not is_restartable():
        raise RuntimeError("this server was not started by launch.py and cannot restart itself")
    logger.warning("restart requested: stopping the server to start it again")
    _requested.set()
    threading.Timer(delay, _stop).start()


def restart_requested() -> bool:
    return _requested.is_set()


def exec_again() -> None:
    """Replace this process with a fresh `launch.py` run of the same command line (installing is skipped)."""
    argv = [sys.executable, *sys.argv]
    if "--skip-install" not in argv:
        argv.append("--skip-install")
    logger.warning("restarting: %s", " ".join(argv[1:]))
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execv(sys.executable, argv)
