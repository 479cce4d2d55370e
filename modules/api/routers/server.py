"""/sdapi/v1/server-stop, -restart and -kill (only with --api-server-stop)."""
from __future__ import annotations

import logging
import os
import signal
import threading

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.errors import EaselError, NotFoundError

router = APIRouter(prefix="/sdapi/v1", tags=["server"])
logger = logging.getLogger(__name__)


class NotRestartableError(EaselError):
    status_code = 501


def _require_flag(services) -> None:
    if not services.cmd_opts.api_server_stop:
        raise NotFoundError("Not Found: start the server with --api-server-stop to enable this route")


def _signal_self(sig: int) -> None:
    # Answer first, then stop: uvicorn handles SIGTERM as a graceful shutdown.
    threading.Timer(0.2, os.kill, args=(os.getpid(), sig)).start()


@router.post("/server-stop")
def server_stop(services: ServicesDep, _user: ApiUser) -> PlainTextResponse:
    _require_flag(services)
    logger.warning("server stop requested through the API")
    _signal_self(signal.SIGTERM)
    return PlainTextResponse("Stopping.")


@router.post("/server-kill")
def server_kill(services: ServicesDep, _user: ApiUser) -> dict:
    _require_flag(services)
    logger.warning("server kill requested through the API")
    _signal_self(signal.SIGKILL)
    return {}


@router.post("/server-restart")
def server_restart(services: ServicesDep, _user: ApiUser) -> dict:
    _require_flag(services)
    raise NotRestartableError("Server is not restartable: run it under a process supervisor and use server-stop")
