"""S3-compatible object storage through boto3: AWS S3, MinIO, Cloudflare R2, Ceph RGW (moto_server in tests).

Credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
AWS_PROFILE and ~/.aws, web identity, container and instance roles). botocore's own retries are off: every call
goes through `call_with_retries` so that all backends retry, back off and fail the same way.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from modules.errors import ConflictError, EaselError, NotFoundError, StorageUnavailableError
from modules.storage.base import FolderListing, ObjectInfo, Storage, content_type, normalize_key, normalize_prefix
from modules.storage.retry import GuardedStream, RetryPolicy, call_with_retries

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_TRANSIENT = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling",
              "ThrottlingException", "RequestLimitExceeded", "OperationAborted"}
_AUTH = {"AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken", "InvalidToken",
         "TokenRefreshRequired", "AuthorizationHeaderMalformed", "InvalidSecurity"}
MIN_PART = 5 << 20  # S3's smallest part (all but the last)


class S3Storage(Storage):
    scheme = "s3"

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, region: str | None = None,
                 retry: RetryPolicy | None = None, multipart_threshold: int = 64 << 20, part_size: int = 16 << 20,
                 session=None, public_endpoint_url: str | None = None, addressing_style: str = "auto"):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = normalize_prefix(prefix)
        self.endpoint_url = endpoint_url
        self.retry = retry or RetryPolicy()
        self.multipart_threshold = max(MIN_PART, multipart_threshold)
        session = session or boto3.session.Session()
        region = region or session.region_name or "us-east-1"
        config = Config(connect_timeout=self.retry.timeout, read_timeout=self.retry.timeout,
                        retries={"total_max_attempts": 1}, signature_version="s3v4",
                        s3={"addressing_style": addressing_style})
        self.client = session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
        # Signed URLs name the endpoint clients reach (a CDN or proxy in front of a private endpoint).
        self._signer = self.client if not public_endpoint_url else session.client(
            "s3", endpoint_url=public_endpoint_url, region_name=region, config=config)
        self.transfer = TransferConfig(multipart_threshold=self.multipart_threshold,
                                       multipart_chunksize=max(MIN_PART, part_size), max_concurrency=4)

    # -- plumbing -------------------------------------------------------------------------------------------
    def _full(self, key: str) -> str:
        key = normalize_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3 store s3://{self.bucket}/{self.prefix}{where}"

    def _classify(self, key: str | None):
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

        store = self.describe()

        def classify(exc: BaseException) -> EaselError | str | None:
            if isinstance(exc, ClientError):
                error = exc.response.get("Error", {})
                code = str(error.get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
                if code == "NoSuchBucket":
                    return StorageUnavailableError(f"{store}: bucket {self.bucket!r} does not exist")
                if code == "PreconditionFailed" or status == 412:  # a conditional write (write_new) lost
                    return ConflictError(f"stored object {key!r} already exists", field="key")
                if code in _NOT_FOUND or status == 404:
                    return NotFoundError(f"stored object {key!r} not found", field="key")
                if code in _AUTH or status == 403:
                    return StorageUnavailableError(f"{store} refused Easel's credentials ({code or status}); "
                                                   "check the AWS credential chain")
                if code in _TRANSIENT or status >= 500 or status == 429:
                    return f"HTTP {status} {code}".strip()
                return StorageUnavailableError(f"{store} refused the request (HTTP {status} {code}: "
                                               f"{error.get('Message', '')})")
            if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
                return StorageUnavailableError(f"{store}: no usable AWS credentials ({exc}); set AWS_ACCESS_KEY_ID "
                                               "and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance role")
            if isinstance(exc, S3UploadFailedError):
                text = str(exc)
                if any(code in text for code in _AUTH):
                    return StorageUnavailableError(f"{store} refused Easel's credentials ({text})")
                return text
            if isinstance(exc, BotoCoreError | OSError):
                return f"{type(exc).__name__}: {exc}"
            import urllib3.exceptions

            if isinstance(exc, urllib3.exceptions.HTTPError):
                return f"{type(exc).__name__}: {exc}"
            return None
        return classify

    def _call(self, action: str, key: str | None, fn):
        return call_with_retries(fn, policy=self.retry, classify=self._classify(key), store=self.describe(),
                                 action=action)

    # -- the interface ----------------------------------------------------------------------------------------
    def write(self, key: str, data: bytes) -> str:
        full = self._full(key)
        extra = {"ContentType": content_type(full)}
        if len(data) >= self.multipart_threshold:
            self._call(f"uploading {key!r}", key, lambda: self.client.upload_fileobj(
                io.BytesIO(data), self.bucket, full, ExtraArgs=extra, Config=self.transfer))
        else:
            self._call(f"writing {key!r}", key, lambda: self.client.put_object(
                Bucket=self.bucket, Key=full, Body=data, **extra))
        return normalize_key(key)

    def write_new(self, key: str, data: bytes) -> str:
        """A conditional PUT (`If-None-Match: *`): the store itself refuses (412) when the key exists, so two
        writers never both win. Stores without conditional writes answer 501 NotImplemented: a clear error."""
        full = self._full(key)
        self._call(f"writing {key!r}", key, lambda: self.client.put_object(
            Bucket=self.bucket, Key=full, Body=data, ContentType=content_type(full), IfNoneMatch="*"))
        return normalize_key(key)

    def write_file(self, key: str, path: Path) -> str:
        full = self._full(key)
        self._call(f"uploading {key!r}", key, lambda: self.client.upload_file(
            str(path), self.bucket, full, ExtraArgs={"ContentType": content_type(full)}, Config=self.transfer))
        return normalize_key(key)

    def open_stream(self, key: str) -> BinaryIO:
        full = self._full(key)
        response = self._call(f"reading {key!r}", key, lambda: self.client.get_object(Bucket=self.bucket, Key=full))
        stream = GuardedStream(response["Body"], classify=self._classify(key), store=self.describe(), key=key)
        return io.BufferedReader(stream, 1 << 16)

    def stat(self, key: str) -> ObjectInfo:
        full = self._full(key)
        head = self._call(f"checking {key!r}", key, lambda: self.client.head_object(Bucket=self.bucket, Key=full))
        return ObjectInfo(key=normalize_key(key), size=int(head["ContentLength"]),
                          mtime=head["LastModified"].timestamp(), etag=str(head.get("ETag", "")).strip('"') or None)

    def delete(self, key: str) -> None:
        full = self._full(key)
        self._call(f"deleting {key!r}", key, lambda: self.client.delete_object(Bucket=self.bucket, Key=full))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        folder = normalize_prefix(prefix)
        if self.prefix:
            folder = f"{self.prefix}/{folder}" if folder else self.prefix
        wanted = f"{folder}/" if folder else ""
        token: str | None = None
        while True:
            args = {"Bucket": self.bucket, "Prefix": wanted, **({"ContinuationToken": token} if token else {})}
            page = self._call(f"listing {prefix!r}", prefix, lambda args=args: self.client.list_objects_v2(**args))
            for item in page.get("Contents", []):
                yield ObjectInfo(key=self._relative(item["Key"]), size=int(item["Size"]),
                                 mtime=item["LastModified"].timestamp(), etag=str(item.get("ETag", "")).strip('"'))
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def list_folder(self, prefix: str = "") -> FolderListing:
        folder = normalize_prefix(prefix)
        full = (f"{self.prefix}/{folder}" if folder else self.prefix) if self.prefix else folder
        wanted = f"{full}/" if full else ""
        folders: list[str] = []
        objects: list[ObjectInfo] = []
        token: str | None = None
        while True:
            args = {"Bucket": self.bucket, "Prefix": wanted, "Delimiter": "/",
                    **({"ContinuationToken": token} if token else {})}
            page = self._call(f"listing {prefix!r}", prefix, lambda args=args: self.client.list_objects_v2(**args))
            folders += [self._relative(p["Prefix"].rstrip("/")) for p in page.get("CommonPrefixes", [])]
            objects += [ObjectInfo(key=self._relative(item["Key"]), size=int(item["Size"]),
                                   mtime=item["LastModified"].timestamp(), etag=str(item.get("ETag", "")).strip('"'))
                        for item in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return FolderListing(sorted(folders), sorted(objects, key=lambda o: o.key))
            token = page["NextContinuationToken"]

    def delete_prefix(self, prefix: str) -> int:
        keys = [self._full(info.key) for info in self.list(prefix)]
        for start in range(0, len(keys), 1000):
            batch = {"Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True}
            result = self._call(f"deleting under {prefix!r}", prefix,
                                lambda batch=batch: self.client.delete_objects(Bucket=self.bucket, Delete=batch))
            if result.get("Errors"):
                first = result["Errors"][0]
                raise StorageUnavailableError(f"{self.describe()} did not delete {len(result['Errors'])} objects "
                                              f"under {prefix!r} ({first.get('Code')}: {first.get('Key')})")
        return len(keys)

    def signed_url(self, key: str, expires: int) -> str | None:
        full = self._full(key)
        return self._call(f"signing {key!r}", key, lambda: self._signer.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": full}, ExpiresIn=int(expires)))

    def reference(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def close(self) -> None:
        self.client.close()
        if self._signer is not self.client:
            self._signer.close()
