"""GET /sdapi/v1/scripts, /script-info and /extensions."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.scripts_runner import api_script_info, api_scripts_list

router = APIRouter(prefix="/sdapi/v1", tags=["scripts"])


@router.get("/scripts")
async def list_scripts(services: ServicesDep, _user: ApiUser) -> dict:
    return await run_in_threadpool(api_scripts_list, services.scripts.runners)


@router.get("/script-info")
async def script_info(services: ServicesDep, _user: ApiUser) -> list[dict]:
    return await run_in_threadpool(api_script_info, services.scripts.runners)


@router.get("/extensions")
def list_extensions(services: ServicesDep, _user: ApiUser) -> list[dict]:
    # A1111 lists only extensions with a git remote; Easel lists every installed one (built-in ones too).
    return [{"name": ext.name, "remote": "", "branch": "", "commit_hash": "", "version": "", "commit_date": 0,
             "enabled": ext.enabled} for ext in services.extensions]
