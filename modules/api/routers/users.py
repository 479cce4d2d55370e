"""Users and their API tokens, for admins (docs/users.md): list, add, change, remove users; make and revoke
tokens. Every change is written to the --users-file at once (atomically) and holds from the next request.
GET /internal/me: the caller's own record, for any logged-in user."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from modules.api.auth import require_admin, require_api_or_ui_auth
from modules.api.deps import ServicesDep
from modules.errors import EaselError, NotFoundError
from modules.services import Services
from modules.users.directory import UserDirectory
from modules.users.model import Quota

router = APIRouter(prefix="/internal/users", tags=["users"], dependencies=[Depends(require_admin)])
me_router = APIRouter(prefix="/internal", tags=["users"])


class NewUser(BaseModel):
    name: str = Field(description="1-64 of A-Z a-z 0-9 _ . @ -")
    password: str | None = Field(default=None, min_length=1, max_length=1024,
                                 description="stored as an argon2id hash; none: token-only user")
    role: str = Field(default="user", description="admin or user")
    quota: dict[str, Any] | None = Field(default=None,
                                         description="max_waiting_tasks, max_running_jobs (null: no limit), priority")


class UserChange(BaseModel):
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    role: str | None = None
    quota: dict[str, Any] | None = None


class NewToken(BaseModel):
    label: str = Field(default="", max_length=100)


def _users(services: Services) -> UserDirectory:
    if services.users is None:
        raise EaselError("no user directory is configured")
    return services.users


@router.get("")
def list_users(services: ServicesDep) -> list[dict]:
    return [u.public() for u in _users(services).list()]


@router.post("", status_code=201)
def add_user(body: NewUser, services: ServicesDep) -> dict:
    quota = Quota.from_dict(body.quota) if body.quota is not None else None
    return _users(services).add_user(body.name, body.password, body.role, quota).public()


@router.get("/{name}")
def get_user(name: str, services: ServicesDep) -> dict:
    user = _users(services).get(name)
    if user is None:
        raise NotFoundError(f"user {name!r} not found", field="name")
    return user.public()


@router.patch("/{name}")
def change_user(name: str, body: UserChange, services: ServicesDep) -> dict:
    quota = Quota.from_dict(body.quota) if body.quota is not None else None
    return _users(services).update_user(name, password=body.password, role=body.role, quota=quota).public()


@router.delete("/{name}")
def remove_user(name: str, services: ServicesDep) -> dict:
    _users(services).remove_user(name)
    return {"removed": name}


@router.post("/{name}/tokens", status_code=201)
def add_token(name: str, body: NewToken, services: ServicesDep) -> dict:
    """The token is in this answer only; the users file keeps its SHA-256."""
    record, token = _users(services).add_token(name, body.label)
    return {**record.public(), "token": token}


@router.delete("/{name}/tokens/{token_id}")
def revoke_token(name: str, token_id: str, services: ServicesDep) -> dict:
    _users(services).remove_token(name, token_id)
    return {"revoked": token_id}


@me_router.get("/me")
def me(services: ServicesDep,
       name: Annotated[str | None, Depends(require_api_or_ui_auth)]) -> dict:
    """The caller as the directory has it (no login configured: an anonymous admin)."""
    user = _users(services).get(name) if name else None
    if user is None:
        return {"name": None, "role": "admin", "tokens": [], "quota": Quota().as_dict(), "source": None}
    return user.public()
