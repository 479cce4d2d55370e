"""POST /options, POST /restart and the function-management routes, mapped onto Easel: a "function" is a
worker (one per device) with the checkpoint it holds; deleting one unloads its model; batch updates change
the worker settings Easel has (timeout, queue size)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.routers.serverless import new_router
from modules.errors import InvalidRequestError

router = new_router("serverless-admin")


class OptionRequest(BaseModel):
    data: dict[str, Any]


@router.post("/options")
def update_options(body: OptionRequest, services: ServicesDep, _user: ApiUser) -> dict:
    options = services.options
    for key, value in body.data.items():
        options.validate(key, value, is_api=True)
    for key, value in body.data.items():
        options.set(key, value, is_api=True)
    options.save()
    return {"message": "success"}


def _restart(services) -> None:
    with services.models.lock:
        services.models.unload()
    services.options.load()
    services.checkpoints.refresh()
    services.vaes.refresh()


@router.post("/restart")
async def restart(services: ServicesDep, _user: ApiUser) -> dict:
    """Reload config.json, rescan the model folders and unload the checkpoint (the next task loads it afresh).
    The process and its queue keep running: waiting tasks are not lost."""
    await run_in_threadpool(_restart, services)
    return {"message": "success"}


def _functions(services) -> list[dict]:
    return [{"functionName": w["name"], "model": w.get("model"), "status": w["state"], "device": w.get("device"),
             "runningTask": w["task"], "waiting": w["waiting"], "queueSize": w["queue_size"],
             "timeout": w["timeout"], "alive": w["alive"]} for w in services.describe_workers()]


@router.get("/list/sdapi/functions")
def list_functions(services: ServicesDep, _user: ApiUser) -> dict:
    return {"status": "success", "functions": _functions(services)}


class DelFunctions(BaseModel):
    functions: list[str] = Field(default_factory=list)


@router.post("/del/sd/functions")
async def delete_functions(body: DelFunctions, services: ServicesDep, _user: ApiUser) -> dict:
    """Unload the model held by each named worker (an empty list: every worker)."""
    known = {f["functionName"] for f in _functions(services)}
    fails = [{"functionName": name, "err": "no such worker"} for name in body.functions if name not in known]
    if len(fails) < len(body.functions) or not body.functions:
        def unload() -> None:
            with services.models.lock:
                services.models.unload()
        await run_in_threadpool(unload)
    return {"status": "fail" if fails else "success", "fails": fails}


class BatchUpdate(BaseModel):
    model_config = ConfigDict(extra="allow")
    models: list[str] | None = None
    timeout: float | None = Field(None, ge=0)
    queueSize: int | None = Field(None, ge=1, le=100000)  # noqa: N815 - Easel's extension of the spec


_NOT_APPLICABLE = ("image", "cpu", "instanceType", "memorySize", "gpuMemorySize", "extraArgs", "vpcConfig",
                   "nasConfig", "ossMountConfig", "env")


@router.post("/batch_update_sd_resource")
def batch_update(body: BatchUpdate, services: ServicesDep, _user: ApiUser) -> dict:
    """`timeout` (seconds; 0 = none) and `queueSize` apply to the queue's workers at once; the cloud-resource
    fields of the spec have no meaning on one machine and are reported in errMsg."""
    if body.models:
        loaded = services.models.current_title
        if loaded is None or not any(m and m in loaded for m in body.models):
            raise InvalidRequestError("models: no worker holds any of these models", field="models")
    if body.timeout is not None:
        services.queue.task_timeout = float(body.timeout)
    if body.queueSize is not None:
        services.queue.max_waiting = int(body.queueSize)
    given = body.model_dump(exclude_unset=True)
    ignored = [name for name in given if name in _NOT_APPLICABLE or name not in BatchUpdate.model_fields]
    message = f"not applicable to Easel workers, ignored: {', '.join(ignored)}" if ignored else ""
    return {"status": "success", "failFuncList": [], "errMsg": message, "functions": _functions(services)}
