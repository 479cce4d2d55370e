"""`--storage-url` -> a Storage: a local path or file:// URL (the default: the data dir's outputs/),
`s3://bucket/prefix` (boto3) or `oss://bucket/prefix` (oss2). Flags are read with getattr so that library
callers can pass any namespace (or None) and get the documented defaults."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from modules.errors import EaselError, InvalidRequestError
from modules.storage.base import Storage, normalize_prefix
from modules.storage.retry import RetryPolicy

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
URL_FORMS = "a path, file:///abs/path, s3://bucket[/prefix] or oss://bucket[/prefix]"


@dataclass(frozen=True)
class StorageUrl:
    scheme: str  # "file", "s3" or "oss"
    bucket: str = ""
    prefix: str = ""
    path: Path | None = None  # for "file"


def parse_storage_url(url: str, *, field: str = "--storage-url") -> StorageUrl:
    """Split a storage URL; InvalidRequestError naming `field` for anything else."""
    url = (url or "").strip()
    if not url:
        raise InvalidRequestError(f"{field} is empty; use {URL_FORMS}", field=field)
    if "://" not in url:
        return StorageUrl("file", path=Path(url).expanduser())
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidRequestError(f"{field}: file:// URLs name a local path (file:///abs/path), "
                                      f"not host {parsed.netloc!r}", field=field)
        return StorageUrl("file", path=Path(unquote(parsed.path)))
    if scheme not in ("s3", "oss"):
        raise InvalidRequestError(f"{field}: unknown scheme {scheme!r}; use {URL_FORMS}", field=field)
    if parsed.query or parsed.fragment or parsed.username or parsed.password:
        raise InvalidRequestError(f"{field}: put credentials and options in flags or the environment, "
                                  "not in the URL", field=field)
    bucket = parsed.netloc
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidRequestError(f"{field}: {bucket!r} is not a valid bucket name (3-63 of a-z 0-9 . -)",
                                  field=field)
    try:
        prefix = normalize_prefix(unquote(parsed.path))
    except EaselError as e:
        raise InvalidRequestError(f"{field}: bad prefix: {e.message}", field=field) from e
    return StorageUrl(scheme, bucket=bucket, prefix=prefix)


def retry_policy(cmd_opts=None) -> RetryPolicy:
    return RetryPolicy(attempts=max(1, int(getattr(cmd_opts, "storage_retries", 4) or 1)),
                       timeout=float(getattr(cmd_opts, "storage_timeout", 30.0) or 30.0))


def reference_reader(storage: Storage, cmd_opts=None, *, default_root: Path, data_dir: Path | None = None):
    """The ReferenceReader for `storage`; with --storage-allow-external-refs it reads other buckets with the
    same flags and credentials."""
    from modules.storage.references import ReferenceReader

    def external(scheme: str, bucket: str) -> Storage:
        return storage_from_url(f"{scheme}://{bucket}", cmd_opts, default_root=default_root, data_dir=data_dir)
    return ReferenceReader(storage, allow_external=bool(getattr(cmd_opts, "storage_allow_external_refs", False)),
                           external=external)


def storage_from_url(url: str | None, cmd_opts=None, *, default_root: Path, data_dir: Path | None = None,
                     env: dict[str, str] | None = None) -> Storage:
    """The Storage for `url` (None or "": local disk at `default_root`). `data_dir` keeps OSS upload
    checkpoints; `env` replaces os.environ for the OSS credential chain (tests)."""
    from modules.storage.local import LocalStorage

    if not url:
        return LocalStorage(default_root)
    spec = parse_storage_url(url)
    if spec.scheme == "file" and spec.path is not None:
        return LocalStorage(spec.path)
    environ = dict(os.environ if env is None else env)
    multipart = int(float(getattr(cmd_opts, "storage_multipart_mb", 64) or 64) * (1 << 20))
    policy = retry_policy(cmd_opts)
    if spec.scheme == "s3":
        from modules.storage.s3 import S3Storage

        return S3Storage(spec.bucket, spec.prefix, endpoint_url=getattr(cmd_opts, "s3_endpoint_url", None),
                         region=getattr(cmd_opts, "s3_region", None), retry=policy, multipart_threshold=multipart,
                         part_size=max(multipart // 4, 5 << 20),
                         public_endpoint_url=getattr(cmd_opts, "s3_public_endpoint_url", None))
    from modules.storage.oss import OssStorage, credentials_provider

    endpoint = getattr(cmd_opts, "oss_endpoint", None) or environ.get("OSS_ENDPOINT")
    provider = credentials_provider(environ, ram_role=getattr(cmd_opts, "oss_ecs_ram_role", None))
    checkpoints = Path(data_dir) / "cache" / "oss-uploads" if data_dir else None
    return OssStorage(spec.bucket, spec.prefix, endpoint=endpoint or "", provider=provider,
                      region=getattr(cmd_opts, "oss_region", None) or environ.get("OSS_REGION"), retry=policy,
                      multipart_threshold=multipart, part_size=max(multipart // 4, 1 << 20),
                      checkpoint_dir=checkpoints)
