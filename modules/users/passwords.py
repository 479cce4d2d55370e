"""Password hashes (argon2id written; argon2 and bcrypt read) and API tokens (random, stored as SHA-256).

A token is 32 random bytes, so one fast hash is enough at rest; passwords are slow-hashed because people choose
them. A plain password in the users file is refused at load (it must be a hash)."""
from __future__ import annotations

import hashlib
import hmac
import secrets

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_argon2 = PasswordHasher()
TOKEN_PREFIX = "easel_"
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


def hash_password(password: str) -> str:
    return _argon2.hash(password)


def is_password_hash(value: str) -> bool:
    return value.startswith("$argon2") or value.startswith(BCRYPT_PREFIXES)


def verify_password(stored_hash: str, password: str) -> bool:
    if stored_hash.startswith(BCRYPT_PREFIXES):
        try:
            return bcrypt.checkpw(password.encode("utf-8"), stored_hash.encode("ascii"))
        except ValueError:
            return False
    try:
        return _argon2.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
