"""Alibaba Cloud OSS through oss2.

Credentials: OSS_ACCESS_KEY_ID + OSS_ACCESS_KEY_SECRET (+ OSS_SESSION_TOKEN for STS temporary credentials),
else the ECS RAM role named by --oss-ecs-ram-role / OSS_ECS_RAM_ROLE (fetched and refreshed from the instance
metadata service). Signatures: V4 (OSS4-HMAC-SHA256) when the region is known (--oss-region, OSS_REGION, or
an `oss-<region>[-internal].aliyuncs.com` endpoint), else V1. Large objects go up with oss2's resumable upload,
whose checkpoints live in the data dir, so an upload cut off by a restart resumes with the parts not yet sent.
"""
from __future__ import annotations

import io
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from modules.errors import ConflictError, EaselError, InvalidRequestError, NotFoundError, StorageUnavailableError
from modules.storage.base import FolderListing, ObjectInfo, Storage, content_type, normalize_key, normalize_prefix
from modules.storage.retry import GuardedStream, RetryPolicy, call_with_retries

logger = logging.getLogger(__name__)

_ENDPOINT_REGION = re.compile(r"^(?:[a-z0-9-]+\.)?oss-([a-z0-9-]+?)(?:-internal)?\.aliyuncs\.com$")
_AUTH = {"AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "SecurityTokenExpired",
         "InvalidSecurityToken", "RequestTimeTooSkewed"}
_TRANSIENT = {"InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling"}
METADATA_URL = "http://100.100.100.200"  # the ECS instance metadata service
MIN_PART = 100 << 10  # OSS's smallest part (all but the last)


def region_from_endpoint(endpoint: str) -> str | None:
    """"cn-hangzhou" for oss-cn-hangzhou.aliyuncs.com (public or -internal); None for other hosts."""
    host = re.sub(r"^[a-z]+://", "", endpoint.strip().lower()).split("/")[0].split(":")[0]
    match = _ENDPOINT_REGION.match(host)
    return match.group(1) if match else None


def credentials_provider(env: dict[str, str] | None = None, ram_role: str | None = None,
                         metadata_url: str | None = None):
    """oss2 credentials: static keys (+ STS token) from the environment, else an ECS RAM role."""
    from oss2.credentials import EcsRamRoleCredentialsProvider, StaticCredentialsProvider

    env = dict(os.environ if env is None else env)
    key_id, secret = env.get("OSS_ACCESS_KEY_ID"), env.get("OSS_ACCESS_KEY_SECRET")
    if key_id and secret:
        return StaticCredentialsProvider(key_id.strip(), secret.strip(), (env.get("OSS_SESSION_TOKEN") or "").strip())
    role = ram_role or env.get("OSS_ECS_RAM_ROLE")
    if role:
        base = (metadata_url or env.get("OSS_ECS_METADATA_URL") or METADATA_URL).rstrip("/")
        return EcsRamRoleCredentialsProvider(f"{base}/latest/meta-data/ram/security-credentials/{role}",
                                             max_retries=3, timeout=10)
    raise InvalidRequestError("oss:// storage needs credentials: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET "
                              "(plus OSS_SESSION_TOKEN for STS), or name an ECS RAM role with --oss-ecs-ram-role",
                              field="--storage-url")


class OssStorage(Storage):
    scheme = "oss"

    def __init__(self, bucket: str, prefix: str = "", *, endpoint: str, provider, region: str | None = None,
                 retry: RetryPolicy | None = None, multipart_threshold: int = 64 << 20, part_size: int = 16 << 20,
                 checkpoint_dir: Path | None = None, threads: int = 2):
        import oss2
        from oss2.auth import ProviderAuth, ProviderAuthV4

        if not endpoint:
            raise InvalidRequestError("oss:// storage needs an endpoint: --oss-endpoint or OSS_ENDPOINT "
                                      "(e.g. https://oss-cn-hangzhou.aliyuncs.com)", field="--oss-endpoint")
        if "://" not in endpoint:
            endpoint = "https://" + endpoint
        self.bucket = bucket
        self.prefix = normalize_prefix(prefix)
        self.endpoint = endpoint
        self.region = region or region_from_endpoint(endpoint)
        self.retry = retry or RetryPolicy()
        self.multipart_threshold = max(MIN_PART, multipart_threshold)
        self.part_size = max(MIN_PART, part_size)
        self.threads = threads
        self.signature = "V4" if self.region else "V1"
        auth = ProviderAuthV4(provider) if self.region else ProviderAuth(provider)
        self._bucket = oss2.Bucket(auth, endpoint, bucket, connect_timeout=self.retry.timeout, region=self.region,
                                  enable_crc=True)
        self._checkpoints = oss2.ResumableStore(root=str(checkpoint_dir or Path(tempfile.gettempdir())),
                                                dir="easel-oss-uploads")
        logger.info("%s uses %s signatures", self.describe(), self.signature)

    # -- plumbing -------------------------------------------------------------------------------------------
    def _full(self, key: str) -> str:
        key = normalize_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def describe(self) -> str:
        return f"OSS store oss://{self.bucket}/{self.prefix} at {self.endpoint}"

    def _classify(self, key: str | None):
        import oss2.exceptions as ossx

        store = self.describe()

        def classify(exc: BaseException) -> EaselError | str | None:
            if isinstance(exc, ossx.RequestError):  # connection refused, reset, timeout (status -2)
                return f"request error: {exc.body or exc}"
            if isinstance(exc, ossx.InconsistentError):  # CRC64 mismatch: the bytes were damaged on the way
                return f"checksum mismatch (request id {exc.request_id})"
            if isinstance(exc, ossx.ClientError):  # raised before any request: e.g. the RAM role gave no credentials
                return StorageUnavailableError(f"{store}: cannot sign the request ({exc.details or exc.body})")
            if isinstance(exc, ossx.OssError):
                code, status, rid = exc.code, exc.status, exc.request_id
                if code == "NoSuchBucket":
                    return StorageUnavailableError(f"{store}: bucket {self.bucket!r} does not exist "
                                                   f"(request id {rid})")
                if code == "FileAlreadyExists":  # a put with x-oss-forbid-overwrite (write_new) lost
                    return ConflictError(f"stored object {key!r} already exists", field="key")
                if code == "NoSuchKey" or (status == 404 and not code):
                    return NotFoundError(f"stored object {key!r} not found", field="key")
                if code in _TRANSIENT or status >= 500 or status == 429:
                    return f"HTTP {status} {code} (request id {rid})"
                if code in _AUTH or status == 403:
                    return StorageUnavailableError(f"{store} refused Easel's credentials ({code}, request id {rid}); "
                                                   "check OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET/OSS_SESSION_TOKEN "
                                                   "or the RAM role")
                return StorageUnavailableError(f"{store} refused the request (HTTP {status} {code}: {exc.message}, "
                                               f"request id {rid})")
            if isinstance(exc, OSError):
                return f"{type(exc).__name__}: {exc}"
            import requests
            import urllib3.exceptions

            if isinstance(exc, requests.RequestException | urllib3.exceptions.HTTPError):
                return f"{type(exc).__name__}: {exc}"
            return None
        return classify

    def _call(self, action: str, key: str | None, fn):
        return call_with_retries(fn, policy=self.retry, classify=self._classify(key), store=self.describe(),
                                 action=action)

    def _resumable(self, full: str, path: Path) -> None:
        import oss2

        oss2.resumable_upload(self._bucket, full, str(path), store=self._checkpoints,
                              headers={"Content-Type": content_type(full)},
                              multipart_threshold=self.multipart_threshold, part_size=self.part_size,
                              num_threads=self.threads)

    # -- the interface ----------------------------------------------------------------------------------------
    def write(self, key: str, data: bytes) -> str:
        full = self._full(key)
        if len(data) >= self.multipart_threshold:
            with tempfile.NamedTemporaryFile(prefix="easel-oss-", delete=False) as handle:
                handle.write(data)
            try:
                self._call(f"uploading {key!r}", key, lambda: self._resumable(full, Path(handle.name)))
            finally:
                Path(handle.name).unlink(missing_ok=True)
        else:
            self._call(f"writing {key!r}", key, lambda: self._bucket.put_object(
                full, data, headers={"Content-Type": content_type(full)}))
        return normalize_key(key)

    def write_new(self, key: str, data: bytes) -> str:
        """A put with `x-oss-forbid-overwrite: true`: OSS itself refuses (409 FileAlreadyExists) when the key
        exists, so two writers never both win."""
        full = self._full(key)
        self._call(f"writing {key!r}", key, lambda: self._bucket.put_object(
            full, data, headers={"Content-Type": content_type(full), "x-oss-forbid-overwrite": "true"}))
        return normalize_key(key)

    def write_file(self, key: str, path: Path) -> str:
        full = self._full(key)
        if Path(path).stat().st_size >= self.multipart_threshold:
            self._call(f"uploading {key!r}", key, lambda: self._resumable(full, Path(path)))
        else:
            self._call(f"writing {key!r}", key, lambda: self._bucket.put_object_from_file(
                full, str(path), headers={"Content-Type": content_type(full)}))
        return normalize_key(key)

    def open_stream(self, key: str) -> BinaryIO:
        full = self._full(key)
        result = self._call(f"reading {key!r}", key, lambda: self._bucket.get_object(full))
        stream = GuardedStream(result, classify=self._classify(key), store=self.describe(), key=key)
        return io.BufferedReader(stream, 1 << 16)

    def stat(self, key: str) -> ObjectInfo:
        full = self._full(key)
        head = self._call(f"checking {key!r}", key, lambda: self._bucket.head_object(full))
        return ObjectInfo(key=normalize_key(key), size=int(head.content_length), mtime=float(head.last_modified),
                          etag=(head.etag or "").strip('"') or None)

    def delete(self, key: str) -> None:
        full = self._full(key)
        self._call(f"deleting {key!r}", key, lambda: self._bucket.delete_object(full))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        folder = normalize_prefix(prefix)
        if self.prefix:
            folder = f"{self.prefix}/{folder}" if folder else self.prefix
        wanted = f"{folder}/" if folder else ""
        token = ""
        while True:
            page = self._call(f"listing {prefix!r}", prefix, lambda token=token: self._bucket.list_objects_v2(
                prefix=wanted, continuation_token=token, max_keys=1000))
            for item in page.object_list:
                yield ObjectInfo(key=self._relative(item.key), size=int(item.size), mtime=float(item.last_modified),
                                 etag=(item.etag or "").strip('"') or None)
            if not page.is_truncated:
                return
            token = page.next_continuation_token

    def list_folder(self, prefix: str = "") -> FolderListing:
        folder = normalize_prefix(prefix)
        full = (f"{self.prefix}/{folder}" if folder else self.prefix) if self.prefix else folder
        wanted = f"{full}/" if full else ""
        folders: list[str] = []
        objects: list[ObjectInfo] = []
        token = ""
        while True:
            page = self._call(f"listing {prefix!r}", prefix, lambda token=token: self._bucket.list_objects_v2(
                prefix=wanted, delimiter="/", continuation_token=token, max_keys=1000))
            folders += [self._relative(p.rstrip("/")) for p in page.prefix_list]
            objects += [ObjectInfo(key=self._relative(item.key), size=int(item.size), mtime=float(item.last_modified),
                                   etag=(item.etag or "").strip('"') or None) for item in page.object_list]
            if not page.is_truncated:
                return FolderListing(sorted(folders), sorted(objects, key=lambda o: o.key))
            token = page.next_continuation_token

    def delete_prefix(self, prefix: str) -> int:
        keys = [self._full(info.key) for info in self.list(prefix)]
        for start in range(0, len(keys), 1000):
            batch = keys[start:start + 1000]
            self._call(f"deleting under {prefix!r}", prefix, lambda batch=batch: self._bucket.batch_delete_objects(batch))
        return len(keys)

    def signed_url(self, key: str, expires: int) -> str | None:
        full = self._full(key)
        return self._call(f"signing {key!r}", key, lambda: self._bucket.sign_url("GET", full, int(expires),
                                                                                 slash_safe=True))

    def reference(self, key: str) -> str:
        return f"oss://{self.bucket}/{self._full(key)}"

    def close(self) -> None:
        self._bucket.session.session.close()
