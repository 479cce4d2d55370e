"""REST routes: `GET /beautifulprompt/models` and `POST /beautifulprompt/expand`, behind the API auth."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount

from bprompt.expander_common import LIMITS, MAX_PROMPT_CHARS, ExpandParams, normalize_prompt
from bprompt.registry import ExpanderRegistry
from modules.api.auth import require_api_auth

_DEFAULTS = ExpandParams()


def _limited(name: str) -> Any:
    """A pydantic `Field` for parameter `name` with its default and `LIMITS` range."""
    low, high = LIMITS[name]
    return Field(default=getattr(_DEFAULTS, name), ge=low, le=high)


class ExpandBody(BaseModel):
    """Request of POST /beautifulprompt/expand. Unknown keys are ignored, as elsewhere in the API."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="the short prompt to expand")
    model: str | None = Field(default=None, description="a name from GET /beautifulprompt/models; default if omitted")
    count: int = _limited("count")
    temperature: float = _limited("temperature")
    top_k: int = _limited("top_k")
    top_p: float = _limited("top_p")
    repetition_penalty: float = _limited("repetition_penalty")
    max_length: int = _limited("max_length")
    seed: int = _limited("seed")

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not normalize_prompt(value):
            raise ValueError("prompt must contain text")
        return value

    def params(self) -> ExpandParams:
        return ExpandParams(count=self.count, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
                            repetition_penalty=self.repetition_penalty, max_length=self.max_length, seed=self.seed)


class ExpandResponse(BaseModel):
    prompts: list[str]
    model: str
    seed: int


class ModelsResponse(BaseModel):
    models: list[str]
    default: str


def build_router(registry: ExpanderRegistry) -> APIRouter:
    """The BeautifulPrompt routes over `registry`; every route requires the API credentials when set."""
    router = APIRouter(prefix="/beautifulprompt", tags=["beautifulprompt"], dependencies=[Depends(require_api_auth)])

    @router.get("/models", response_model=ModelsResponse)
    async def list_models() -> ModelsResponse:
        names = await run_in_threadpool(registry.names)
        return ModelsResponse(models=names, default=registry.default_name())

    @router.post("/expand", response_model=ExpandResponse)
    async def expand(body: ExpandBody) -> ExpandResponse:
        result = await run_in_threadpool(registry.expand, body.prompt, body.params(), body.model)
        return ExpandResponse(prompts=result.prompts, model=result.model, seed=result.seed)

    return router


def register_routes(app: FastAPI, registry: ExpanderRegistry) -> None:
    """Add the routes to `app` (call from `script_callbacks.on_app_started`).

    `on_app_started` runs after the WebUI is mounted at "/", and a mount at "/" answers every path it is
    asked first; so the new routes go in front of such a catch-all mount (a no-op when there is none).
    """
    routes = app.router.routes
    before = len(routes)
    app.include_router(build_router(registry))
    added = routes[before:]
    del routes[before:]
    catch_all = next((i for i, r in enumerate(routes) if isinstance(r, Mount) and r.path in ("", "/")), len(routes))
    routes[catch_all:catch_all] = added
