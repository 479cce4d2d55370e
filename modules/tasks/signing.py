"""Secrets, signed expiring result links and webhook signatures (HMAC-SHA256)."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import quote

from modules.errors import ForbiddenError, StorageUnavailableError

logger = logging.getLogger(__name__)
LINK_PREFIX = "/storage/"
_secrets_lock = threading.Lock()


def migrate_secrets(legacy: Path, secrets_file: Path) -> None:
    """Move an older data dir's `secrets.json` (kept at the data dir's top, where the FileBrowser could reach it)
    into the private folder. Every key is kept, so links and webhook signatures made before stay valid; a key
    already in the new file wins."""
    if not legacy.is_file() or legacy.is_symlink():
        return
    with _secrets_lock:
        stored = json.loads(legacy.read_text(encoding="utf-8"))
        if secrets_file.is_file():
            stored.update(json.loads(secrets_file.read_text(encoding="utf-8")))
        _write_secrets(secrets_file, stored)
        legacy.unlink()


def _write_secrets(secrets_file: Path, stored: dict[str, str]) -> None:
    secrets_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = secrets_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(stored, handle)
    os.replace(tmp, secrets_file)


def load_secret(explicit: str | None, env_name: str, secrets_file: Path, name: str) -> bytes:
    """The flag's value, else the environment variable, else a random secret kept in `secrets_file` (0600)
    so that links and signatures survive restarts."""
    value = explicit or os.environ.get(env_name)
    if value:
        return value.encode("utf-8")
    with _secrets_lock:
        stored: dict[str, str] = {}
        if secrets_file.is_file():
            stored = json.loads(secrets_file.read_text(encoding="utf-8"))
        if name not in stored:
            stored[name] = secrets.token_hex(32)
            _write_secrets(secrets_file, stored)
        return stored[name].encode("utf-8")


def _mac(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).hexdigest()


class LinkSigner:
    """`/storage/<key>?expires=<unix>&signature=<hex>` with signature = HMAC-SHA256(secret, "<path>\\n<expires>").

    `result_url` gives clients the link to a stored result: the object store's own signed URL when the result
    storage is OSS or S3 (`storage.signed_url`), else Easel's /storage link."""

    def __init__(self, secret: bytes, ttl: int = 3600, storage=None):
        self.secret = secret
        self.ttl = ttl
        self.storage = storage  # modules.storage.base.Storage of the task results, or None

    def result_url(self, key: str, base_url: str = "") -> str:
        """A link that serves the stored result `key` for `ttl` seconds without other credentials."""
        if self.storage is not None and self.storage.is_object_store:
            try:
                url = self.storage.signed_url(key, self.ttl)
            except StorageUnavailableError as e:  # signing needs credentials (an expired RAM role, ...)
                logger.warning("cannot sign a store URL for %s, answering Easel's link: %s", key, e.message)
                url = None
            if url:
                return url
        return self.sign(key, base_url)

    def path(self, key: str) -> str:
        return LINK_PREFIX + key

    def sign(self, key: str, base_url: str = "", ttl: int | None = None) -> str:
        expires = int(time.time()) + (self.ttl if ttl is None else ttl)
        signature = _mac(self.secret, f"{self.path(key)}\n{expires}")
        return f"{base_url.rstrip('/')}{quote(self.path(key))}?expires={expires}&signature={signature}"

    def verify(self, key: str, expires: str | None, signature: str | None) -> None:
        """ForbiddenError unless the signature matches the path and expiry and the link has not expired."""
        if not expires or not signature or not expires.isdigit():
            raise ForbiddenError("this link needs valid expires and signature parameters")
        expected = _mac(self.secret, f"{self.path(key)}\n{expires}")
        if not hmac.compare_digest(expected, signature):
            raise ForbiddenError("invalid link signature")
        if int(expires) < time.time():
            raise ForbiddenError("this link has expired")


def webhook_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The X-Easel-Signature header: "sha256=" + HMAC-SHA256(secret, "<timestamp>." + body) in hex."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"
