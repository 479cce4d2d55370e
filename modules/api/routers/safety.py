"""The prompt blocklist, for admins: GET/PUT /internal/safety/blocklist (the whole list), POST one rule, DELETE
one rule by name. The list lives in <data dir>/prompt_blocklist.json (modules/safety/blocklist.py)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from modules.api.auth import require_admin
from modules.api.deps import ServicesDep
from modules.errors import ConflictError, EaselError, NotFoundError
from modules.safety.blocklist import Blocklist, parse_rules
from modules.services import Services

router = APIRouter(prefix="/internal/safety", tags=["internal"], dependencies=[Depends(require_admin)])


class BlocklistBody(BaseModel):
    rules: list[dict[str, Any]] = Field(description='[{"name": ..., "words": [...]} or {"name": ..., "regex": ...}]')


def _blocklist(services: Services) -> Blocklist:
    if services.guard is None:
        raise EaselError("the prompt guardrail is not configured")
    return services.guard.blocklist


def _listing(blocklist: Blocklist) -> dict[str, Any]:
    return {"rules": [rule.as_json() for rule in blocklist.rules()], "file": blocklist.path.name}


@router.get("/blocklist")
def get_blocklist(services: ServicesDep) -> dict[str, Any]:
    return _listing(_blocklist(services))


@router.put("/blocklist")
def put_blocklist(body: BlocklistBody, services: ServicesDep) -> dict[str, Any]:
    blocklist = _blocklist(services)
    blocklist.replace(parse_rules(body.rules))
    return _listing(blocklist)


@router.post("/blocklist/rules")
def add_rule(rule: dict[str, Any], services: ServicesDep) -> dict[str, Any]:
    blocklist = _blocklist(services)
    current = blocklist.rules()
    new = parse_rules([rule], field="rule")[0]
    if any(r.name == new.name for r in current):
        raise ConflictError(f"rule.name: a rule named {new.name!r} exists; PUT the list to change it", field="rule.name")
    blocklist.replace([*current, new])
    return _listing(blocklist)


@router.delete("/blocklist/rules/{name}")
def delete_rule(name: str, services: ServicesDep) -> dict[str, Any]:
    blocklist = _blocklist(services)
    current = blocklist.rules()
    kept = [r for r in current if r.name != name]
    if len(kept) == len(current):
        raise NotFoundError(f"no blocklist rule named {name!r}", field="name")
    blocklist.replace(kept)
    return _listing(blocklist)
