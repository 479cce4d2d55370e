"""A user as data: name, password hash, role, API tokens (hashed) and quotas; read from and written to the users
file's JSON. Bad entries raise InvalidRequestError naming the field (the admin routes answer 422 with it; at
start-up the message names the file)."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from modules.errors import InvalidRequestError
from modules.tasks.common import PRIORITIES
from modules.users.passwords import is_password_hash

ROLES = ("admin", "user")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")  # also a folder name (users/<name>/)
_TOKEN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_name(name: Any, field_name: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidRequestError(f"{field_name}: a user name is 1-64 of A-Z a-z 0-9 _ . @ - (not starting with a "
                                  f"symbol), got {name!r}", field=field_name)
    return name


def _optional_limit(value: Any, field_name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidRequestError(f"{field_name}: expected a whole number >= 0 or null, got {value!r}",
                                  field=field_name)
    return value


@dataclass
class Quota:
    """max_waiting_tasks: tasks of this user waiting at once (beyond: 429); max_running_jobs: tasks of this user
    running at once (more wait their turn); priority: the default priority of the user's tasks. None: no limit."""

    max_waiting_tasks: int | None = None
    max_running_jobs: int | None = None
    priority: str = "normal"

    @classmethod
    def from_dict(cls, data: Any, where: str = "quota") -> Quota:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InvalidRequestError(f"{where}: expected an object, got {data!r}", field=where)
        unknown = set(data) - {"max_waiting_tasks", "max_running_jobs", "priority"}
        if unknown:
            raise InvalidRequestError(f"{where}: unknown keys {sorted(unknown)}; valid: max_waiting_tasks, "
                                      "max_running_jobs, priority", field=where)
        priority = data.get("priority", "normal")
        if priority not in PRIORITIES:
            raise InvalidRequestError(f"{where}.priority: expected one of {', '.join(PRIORITIES)}, got {priority!r}",
                                      field=f"{where}.priority")
        return cls(_optional_limit(data.get("max_waiting_tasks"), f"{where}.max_waiting_tasks"),
                   _optional_limit(data.get("max_running_jobs"), f"{where}.max_running_jobs"), priority)

    def as_dict(self) -> dict[str, Any]:
        return {"max_waiting_tasks": self.max_waiting_tasks, "max_running_jobs": self.max_running_jobs,
                "priority": self.priority}


@dataclass
class ApiToken:
    id: str
    hash: str  # "sha256:<hex>" of the token; the token itself is shown once, when it is made
    label: str = ""
    created_at: float = field(default_factory=time.time)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ApiToken:
        if not isinstance(data, dict) or not isinstance(data.get("hash"), str) or \
                not data["hash"].startswith("sha256:") or not _TOKEN_ID.match(str(data.get("id", ""))):
            raise InvalidRequestError(f"{where}: expected {{\"id\": ..., \"hash\": \"sha256:...\"}} (tokens are "
                                      "stored hashed, never plain)", field=where)
        return cls(id=data["id"], hash=data["hash"], label=str(data.get("label", "")),
                   created_at=float(data.get("created_at", 0.0)))

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "created_at": self.created_at}

    def as_dict(self) -> dict[str, Any]:
        return {**self.public(), "hash": self.hash}


@dataclass
class User:
    name: str
    password_hash: str | None = None
    role: str = "user"
    tokens: list[ApiToken] = field(default_factory=list)
    quota: Quota = field(default_factory=Quota)
    from_flag: str | None = None  # "--api-auth" / "--gradio-auth": defined on the command line, not in the file
    in_file: bool = True

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def from_dict(cls, data: Any, where: str = "user") -> User:
        if not isinstance(data, dict):
            raise InvalidRequestError(f"{where}: expected an object, got {data!r}", field=where)
        name = check_name(data.get("name"), f"{where}.name")
        password_hash = data.get("password_hash")
        if "password" in data:
            raise InvalidRequestError(f"{where}.password: plain passwords are not accepted; store "
                                      "\"password_hash\" (argon2 or bcrypt: python -m modules.users hash-password)",
                                      field=f"{where}.password")
        if password_hash is not None and (not isinstance(password_hash, str) or not is_password_hash(password_hash)):
            raise InvalidRequestError(f"{where}.password_hash: expected an argon2 ($argon2...) or bcrypt ($2b$...) "
                                      "hash", field=f"{where}.password_hash")
        role = data.get("role", "user")
        if role not in ROLES:
            raise InvalidRequestError(f"{where}.role: expected admin or user, got {role!r}", field=f"{where}.role")
        tokens = data.get("tokens") or []
        if not isinstance(tokens, list):
            raise InvalidRequestError(f"{where}.tokens: expected a list", field=f"{where}.tokens")
        return cls(name=name, password_hash=password_hash, role=role,
                   tokens=[ApiToken.from_dict(t, f"{where}.tokens[{i}]") for i, t in enumerate(tokens)],
                   quota=Quota.from_dict(data.get("quota"), f"{where}.quota"))

    def as_dict(self) -> dict[str, Any]:
        """As the users file stores it."""
        data: dict[str, Any] = {"name": self.name, "role": self.role}
        if self.password_hash and not self.from_flag:
            data["password_hash"] = self.password_hash
        data["tokens"] = [t.as_dict() for t in self.tokens]
        data["quota"] = self.quota.as_dict()
        return data

    def public(self) -> dict[str, Any]:
        """As the admin routes show it: no hashes."""
        return {"name": self.name, "role": self.role, "tokens": [t.public() for t in self.tokens],
                "quota": self.quota.as_dict(), "source": self.from_flag or "users-file"}
