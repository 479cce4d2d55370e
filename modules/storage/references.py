"""Input references into object storage: `oss://bucket/key`, `s3://bucket/key`, or a key relative to the
configured store. A reference must lie in the configured store's bucket and under its prefix; others are
refused (403 naming the field) unless `--storage-allow-external-refs` lets Easel read them with the same
credentials."""
from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote, urlparse

from modules.errors import EaselError, ForbiddenPathError, InvalidRequestError
from modules.storage.base import Storage, normalize_key

SCHEMES = ("oss", "s3")


def is_reference(value: object) -> bool:
    """Whether an image field's value is an object-store URL (rather than base64, a data URL or a link)."""
    return isinstance(value, str) and value.split("://", 1)[0].lower() in SCHEMES and "://" in value[:8]


class ReferenceReader:
    """Resolves and reads references for one configured store. `external(scheme, bucket)` builds a store for
    another bucket (only consulted when `allow_external`)."""

    def __init__(self, storage: Storage, *, allow_external: bool = False,
                 external: Callable[[str, str], Storage] | None = None):
        self.storage = storage
        self.allow_external = allow_external
        self.external = external
        self._others: dict[tuple[str, str], Storage] = {}

    def resolve(self, ref: str, *, field: str) -> tuple[Storage, str]:
        """The store holding the reference and the key inside it."""
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidRequestError(f"{field}: empty storage reference", field=field)
        ref = ref.strip()
        if "://" not in ref:
            return self.storage, self._key(ref, field)
        parsed = urlparse(ref)
        scheme, bucket = parsed.scheme.lower(), parsed.netloc
        if scheme not in SCHEMES:
            raise InvalidRequestError(f"{field}: {scheme!r} references are not read from storage "
                                      f"(use oss://bucket/key, s3://bucket/key or a stored key)", field=field)
        if parsed.query or parsed.fragment:
            raise InvalidRequestError(f"{field}: a storage reference has no query or fragment", field=field)
        full = self._key(unquote(parsed.path).lstrip("/"), field)
        own = self.storage
        if scheme == own.scheme and bucket == own.bucket:
            if not own.prefix:
                return own, full
            if full.startswith(own.prefix + "/"):
                return own, full[len(own.prefix) + 1:]
        if not self.allow_external or self.external is None:
            where = f"{own.scheme}://{own.bucket}/{own.prefix}" if own.bucket else "the local store"
            raise ForbiddenPathError(f"{field}: {scheme}://{bucket}/{full} is outside the configured storage "
                                     f"({where}); --storage-allow-external-refs allows it", field=field)
        other = self._others.get((scheme, bucket))
        if other is None:
            other = self._others[(scheme, bucket)] = self.external(scheme, bucket)
        return other, full

    @staticmethod
    def _key(key: str, field: str) -> str:
        try:
            return normalize_key(key)
        except EaselError as e:
            raise type(e)(f"{field}: {e.message}", field=field) from e

    def read(self, ref: str, *, field: str, max_bytes: int) -> bytes:
        """The referenced object's bytes, at most `max_bytes` (a larger object is refused, naming `field`)."""
        store, key = self.resolve(ref, field=field)
        return store.read_limited(key, max_bytes, field=field)
