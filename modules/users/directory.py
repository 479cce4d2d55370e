"""The user directory: who may log in, with which role and quotas. Built from `--users-file` and the
`--api-auth` / `--gradio-auth` pairs; the admin routes change it and it is written back to the users file
atomically (temporary file + rename, mode 0600). Revoking a token or removing a user takes effect on the next
request: every request is checked against the directory as it is then."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modules.errors import ConflictError, InvalidRequestError, NotFoundError
from modules.users.model import ApiToken, Quota, User, check_name
from modules.users.passwords import hash_password, hash_token, new_token, verify_password
from modules.users.throttle import LoginThrottle, ThrottleSettings

logger = logging.getLogger(__name__)


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY[0]


class AuthenticationFailed(Exception):
    """Unknown user, wrong password, unknown or revoked token."""


def parse_pairs(spec: str | None, flag: str) -> list[tuple[str, str]]:
    """`"user:pass[,user2:pass2]"` as (user, password) pairs."""
    pairs = []
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        user, sep, password = item.strip().partition(":")
        if not sep or not user:
            raise ValueError(f"{flag}: expected user:password, got {item!r}")
        pairs.append((user, password))
    return pairs


def read_users_file(path: Path) -> list[User]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"--users-file {path}: cannot read it: {exc}", field="users_file") from exc
    entries = data.get("users") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise InvalidRequestError(f"--users-file {path}: expected {{\"users\": [...]}}", field="users_file")
    users: list[User] = []
    for i, entry in enumerate(entries):
        try:
            user = User.from_dict(entry, f"users[{i}]")
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"--users-file {path}: {exc.message}", field="users_file") from exc
        if any(u.name == user.name for u in users):
            raise InvalidRequestError(f"--users-file {path}: user {user.name!r} listed twice", field="users_file")
        users.append(user)
    return users


class UserDirectory:
    def __init__(self, users: list[User], *, path: Path | None = None, api_protected: bool = False,
                 ui_protected: bool = False, throttle: LoginThrottle | None = None):
        self.path = path
        self.api_protected = api_protected  # the API routes need a login
        self.ui_protected = ui_protected  # the WebUI (and its /internal routes) need a login
        self.throttle = throttle or LoginThrottle()
        self._users = {u.name: u for u in users}
        self._lock = threading.RLock()
        self._cache_key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}  # name -> keyed digest of the password last verified (slow hashes once)
        self._tokens: dict[str, tuple[str, str]] = {}
        self._index_tokens()
        self.on_removed: list[Callable[[str], None]] = []  # a user removed: end their WebUI sessions

    @classmethod
    def for_api(cls, credentials: dict[str, str]) -> UserDirectory:
        """Admins from plain pairs protecting the API (bare apps in tests; launch uses `from_cmd_opts`)."""
        users = [User(name=n, password_hash=hash_password(p), role="admin", from_flag="--api-auth", in_file=False)
                 for n, p in credentials.items()]
        return cls(users, api_protected=bool(users))

    @classmethod
    def from_cmd_opts(cls, cmd_opts: Any) -> UserDirectory:
        path = Path(cmd_opts.users_file).expanduser().resolve() if getattr(cmd_opts, "users_file", None) else None
        users = {u.name: u for u in (read_users_file(path) if path else [])}
        for flag, spec in (("--api-auth", getattr(cmd_opts, "api_auth", None)),
                           ("--gradio-auth", getattr(cmd_opts, "gradio_auth", None))):
            for name, password in parse_pairs(spec, flag):
                check_name(name, flag)
                known = users.get(name)
                if known is None:  # a flag pair is an admin unless the users file says otherwise
                    users[name] = User(name=name, password_hash=hash_password(password), role="admin",
                                       from_flag=flag, in_file=False)
                elif known.password_hash is None:  # listed in the file (role, quota, tokens) without a password
                    known.password_hash, known.from_flag = hash_password(password), flag
                elif known.from_flag is None:
                    logger.warning("%s: user %r is in the users file with a password; the file's password holds",
                                   flag, name)
        settings = ThrottleSettings(max_failures=getattr(cmd_opts, "login_max_failures", 5),
                                    window=getattr(cmd_opts, "login_window", 300.0),
                                    lockout=getattr(cmd_opts, "login_lockout", 300.0))
        directory = cls(list(users.values()), path=path,
                        api_protected=bool(path or getattr(cmd_opts, "api_auth", None)),
                        ui_protected=bool(path or getattr(cmd_opts, "gradio_auth", None)),
                        throttle=LoginThrottle(settings))
        if path is not None and not users:
            logger.warning("--users-file %s lists no users: nobody can log in until one is added", path)
        return directory

    # -- reading ------------------------------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.api_protected or self.ui_protected

    def get(self, name: str | None) -> User | None:
        with self._lock:
            return self._users.get(name) if name else None

    def list(self) -> list[User]:
        with self._lock:
            return sorted(self._users.values(), key=lambda u: u.name)

    # -- logging in ---------------------------------------------------------------------------------------------
    def login(self, name: str, password: str, address: str | None = None) -> User:
        """The user, or AuthenticationFailed; LockedOut (throttle.py) while the name or the address is locked."""
        keys = self.throttle.keys(name, address)
        self.throttle.check(keys)
        user = self.get(name)
        digest = hmac.new(self._cache_key, password.encode("utf-8"), hashlib.sha256).digest()
        if user is not None and user.password_hash:
            with self._lock:
                cached = self._verified.get(name)
            if cached is not None and hmac.compare_digest(cached, digest):
                return user
            if verify_password(user.password_hash, password):
                with self._lock:
                    if self._users.get(name) is user:
                        self._verified[name] = digest
                self.throttle.succeeded(name)
                return user
        elif user is None:
            verify_password(_dummy_hash(), password)  # unknown names take as long as known ones
        self.throttle.failed(keys)
        raise AuthenticationFailed(name)

    def token_user(self, token: str, address: str | None = None) -> User:
        keys = self.throttle.keys(None, address)
        self.throttle.check(keys)
        with self._lock:
            found = self._tokens.get(hash_token(token.strip()))
            user = self._users.get(found[0]) if found else None
        if user is None:
            self.throttle.failed(keys)
            raise AuthenticationFailed("token")
        return user

    # -- changing (admin routes) --------------------------------------------------------------------------------
    def add_user(self, name: str, password: str | None, role: str = "user", quota: Quota | None = None) -> User:
        user = User.from_dict({"name": name, "role": role}, "body")
        if password is not None:
            user.password_hash = hash_password(password)
        user.quota = quota or Quota()
        with self._lock:
            self._writable()
            if name in self._users:
                raise ConflictError(f"user {name!r} already exists", field="name")
            self._users[name] = user
            self._changed()
        return user

    def update_user(self, name: str, *, password: str | None = None, role: str | None = None,
                    quota: Quota | None = None) -> User:
        with self._lock:
            self._writable()
            user = self._existing(name)
            if role is not None:
                user.role = User.from_dict({"name": name, "role": role}, "body").role
            if password is not None:
                user.password_hash, user.from_flag = hash_password(password), None
            if quota is not None:
                user.quota = quota
            user.in_file = True
            self._verified.pop(name, None)
            self._changed()
            return user

    def remove_user(self, name: str) -> None:
        with self._lock:
            self._writable()
            user = self._existing(name)
            if user.from_flag and not user.in_file:
                raise ConflictError(f"user {name!r} is defined by {user.from_flag}; remove it there", field="name")
            del self._users[name]
            self._verified.pop(name, None)
            self._changed()
        for listener in list(self.on_removed):
            listener(name)

    def add_token(self, name: str, label: str = "") -> tuple[ApiToken, str]:
        """A new token for `name`: (its record, the token itself, shown this once)."""
        token = new_token()
        record = ApiToken(id=secrets.token_hex(6), hash=hash_token(token), label=label[:100])
        with self._lock:
            self._writable()
            user = self._existing(name)
            user.tokens.append(record)
            user.in_file = True
            self._changed()
        return record, token

    def remove_token(self, name: str, token_id: str) -> None:
        with self._lock:
            self._writable()
            user = self._existing(name)
            kept = [t for t in user.tokens if t.id != token_id]
            if len(kept) == len(user.tokens):
                raise NotFoundError(f"user {name!r} has no token {token_id!r}", field="token_id")
            user.tokens = kept
            self._changed()

    def _existing(self, name: str) -> User:
        user = self._users.get(name)
        if user is None:
            raise NotFoundError(f"user {name!r} not found", field="name")
        return user

    def _writable(self) -> None:
        if self.path is None:
            raise ConflictError("users can be changed only when Easel runs with --users-file (where they are kept)",
                                field="users_file")

    def _changed(self) -> None:
        self._index_tokens()
        self.save()

    def _index_tokens(self) -> None:
        self._tokens = {t.hash: (u.name, t.id) for u in self._users.values() for t in u.tokens}

    def save(self) -> None:
        """Write the file users (flag-only users stay on the command line) atomically."""
        if self.path is None:
            return
        data = {"users": [u.as_dict() for u in self.list() if u.in_file]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".users-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
