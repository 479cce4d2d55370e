"""GET/POST /models and GET/PUT/DELETE /models/{model_name}: register a model from a stored path (`ossPath`,
relative to the data dir) or an upload (multipart `file`); the checkpoint and VAE registries see it at once."""
from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict

from modules.api.auth import ApiUser
from modules.api.deps import ServicesDep
from modules.api.routers.serverless import new_router
from modules.errors import InvalidRequestError

router = new_router("serverless-models")


class ModelAttributes(BaseModel):
    """The spec's ModelAttributes; `etag`, `status` and the times are computed by Easel (given values ignored)."""

    model_config = ConfigDict(extra="ignore")
    type: str | None = None
    name: str | None = None
    ossPath: str | None = None  # noqa: N815 - the spec's name
    etag: str | None = None
    status: str | None = None


async def _register(request: Request, services, name: str | None, replace: bool) -> tuple[dict[str, Any], bool]:
    content_type = request.headers.get("content-type", "")
    catalog = services.catalog
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        model_name = name or form.get("name")
        if upload is None or isinstance(upload, str):
            if form.get("ossPath"):
                return await _to_thread(catalog.register, model_name, form.get("type"), oss_path=form.get("ossPath"),
                                        replace=replace)
            raise InvalidRequestError("file: upload the model as the multipart field 'file'", field="file")
        return await _to_thread(catalog.register, model_name, form.get("type"), upload=upload.file,
                                upload_name=upload.filename, replace=replace)
    try:
        body = ModelAttributes.model_validate(await request.json())
    except ValueError as e:
        raise InvalidRequestError(f"body: expected ModelAttributes JSON ({e})", field="body") from e
    if name and body.name and body.name != name:
        raise InvalidRequestError(f"name: {body.name!r} differs from the path's {name!r}", field="name")
    return await _to_thread(catalog.register, name or body.name, body.type, oss_path=body.ossPath, replace=replace)


async def _to_thread(fn, *args, **kwargs):
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args, **kwargs)


@router.get("/models")
def list_models(services: ServicesDep, _user: ApiUser) -> list[dict]:
    return services.catalog.list()


@router.post("/models")
async def register_model(request: Request, services: ServicesDep, _user: ApiUser) -> dict:
    attrs, changed = await _register(request, services, None, replace=False)
    return {"message": "register success" if changed else "models existed", "model": attrs}


@router.get("/models/{model_name}")
def get_model(model_name: str, services: ServicesDep, _user: ApiUser) -> dict:
    return services.catalog.get(model_name)


@router.put("/models/{model_name}")
async def update_model(model_name: str, request: Request, services: ServicesDep, _user: ApiUser) -> dict:
    attrs, _ = await _register(request, services, model_name, replace=True)
    return {"message": "success", "model": attrs}


@router.delete("/models/{model_name}")
async def delete_model(model_name: str, services: ServicesDep, _user: ApiUser) -> dict:
    await _to_thread(services.catalog.delete, model_name)
    return {"message": "delete success"}
