"""A PROTOCOL FAKE of Alibaba Cloud OSS for the tests. It is not OSS and not an emulator.

No OSS emulator can be installed here (none on PyPI, npm or Debian), and moto does not speak OSS signatures,
so this module implements the documented REST subset Easel uses, from Alibaba's published API and signing
documentation, in about 500 lines: path-style PutObject / GetObject (with Range) / HeadObject / DeleteObject,
DeleteMultipleObjects, ListObjects (V1) and ListObjectsV2 with XML without a namespace (encoding-type=url
included), InitiateMultipartUpload / UploadPart / ListParts / CompleteMultipartUpload / AbortMultipartUpload,
the error XML (and the base64 `x-oss-err` header of HEAD errors), `x-oss-request-id` on every response, the
`x-oss-hash-crc64ecma` CRC64 header, and the ECS metadata endpoint that hands out RAM-role STS credentials.

It VERIFIES every request's signature with its own HMAC code (nothing from oss2): V1 header signatures
("OSS ak:sig", HMAC-SHA1), V1 signed URLs (OSSAccessKeyId/Expires/Signature), V4 header signatures
("OSS4-HMAC-SHA256 Credential=...", the derived signing key) and V4 signed URLs (x-oss-signature...),
STS security tokens, and the 15-minute clock-skew window. The real oss2 client is driven against it.
What it does not do: virtual-host addressing, ACLs, versioning, storage classes, callbacks, anything else.
"""
from __future__ import annotations

import base64
import calendar
import email.utils
import hashlib
import hmac
import secrets
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import crcmod

crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)  # CRC-64/ECMA-182 (XZ)

# The V1 sub-resources that belong in CanonicalizedResource (from the V1 signing documentation).
V1_SUBRESOURCES = frozenset("""acl uploads location cors logging website referer lifecycle delete append tagging
objectMeta uploadId partNumber security-token position img style styleName replication replicationProgress
replicationLocation cname bucketInfo comp qos live status vod startTime endTime symlink x-oss-process
response-content-type response-content-language response-expires response-cache-control
response-content-disposition response-content-encoding udf udfName udfImage udfId udfImageDesc udfApplication
udfApplicationLog restore callback callback-var policy encryption versions versioning versionId sequential
continuation-token regionList cloudboxes x-oss-ac-source-ip x-oss-ac-subnet-mask x-oss-ac-vpc-id
x-oss-ac-forward-allow""".split())
V4_ALGORITHM = "OSS4-HMAC-SHA256"
SKEW = 15 * 60
MIN_PART = 100 * 1024


@dataclass
class Credential:
    secret: str
    token: str | None = None  # STS credentials must send this token


@dataclass
class StoredObject:
    data: bytes
    etag: str
    mtime: float
    content_type: str
    kind: str = "Normal"  # or "Multipart"

    @property
    def crc(self) -> int:
        return crc64(self.data)


@dataclass
class Upload:
    bucket: str
    key: str
    content_type: str
    parts: dict[int, bytes] = field(default_factory=dict)


class OssRequestError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: str):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _v4_encode(text: str, keep_slash: bool) -> str:
    return quote(text, safe="/~" if keep_slash else "~")


def _hmac(key: bytes, message: str, digest=hashlib.sha256) -> bytes:
    return hmac.new(key, message.encode("utf-8"), digest).digest()


def _xml(root: str, children: list[tuple[str, object]]) -> bytes:
    node = ET.Element(root)

    def add(parent, name, value):
        child = ET.SubElement(parent, name)
        if isinstance(value, list):
            for sub_name, sub_value in value:
                add(child, sub_name, sub_value)
        else:
            child.text = "" if value is None else str(value)

    for name, value in children:
        add(node, name, value)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(node, encoding="utf-8")


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # the client gave up (timeout) or the fake stopped
            return
        super().handle_error(request, client_address)


class FakeOss:
    """The fake's state and its HTTP server on a free loopback port. `start()`, `endpoint`, `stop()`."""

    def __init__(self, credentials: dict[str, Credential], buckets: list[str], region: str = "cn-fake"):
        self.credentials = dict(credentials)
        self.buckets = set(buckets)
        self.region = region
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.uploads: dict[str, Upload] = {}
        self.ram_roles: dict[str, str] = {}  # role name -> access key id it hands out (with its token)
        self.seen: list[tuple[str, str, str]] = []  # (method, path, signature kind) of accepted requests
        self.truncate_reads = False  # GetObject sends half the body, then drops the connection
        self.fail_next = 0  # answer this many requests with 503 ServiceUnavailable first
        self.stall = 0.0  # seconds to wait before answering (to trip client timeouts)
        self.fail_when = None  # fail_when(method, query) -> True: answer that request with 503 (once per True)
        self.lock = threading.Lock()
        self.connections: set = set()  # open client sockets, closed by stop() like a process that dies
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> FakeOss:
        fake = self

        class Handler(_Handler):
            oss = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="fake-oss", daemon=True).start()
        return self

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            connections, self.connections = list(self.connections), set()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed by the client
                continue

    def signature_kinds(self) -> set[str]:
        with self.lock:
            return {kind for _, _, kind in self.seen}

    # -- authentication -----------------------------------------------------------------------------------
    def authenticate(self, method: str, bucket: str, key: str, params: list[tuple[str, str]], headers) -> str:
        """The signature kind ("V1", "V4", "V1-url", "V4-url") of a correctly signed request, else raises."""
        query = dict(params)
        auth = headers.get("Authorization", "")
        if auth.startswith("OSS "):
            return self._check_v1(method, bucket, key, params, headers, auth)
        if auth.startswith(V4_ALGORITHM):
            return self._check_v4(method, bucket, key, params, headers, auth)
        if "OSSAccessKeyId" in query:
            return self._check_v1_url(method, bucket, key, params, headers)
        if query.get("x-oss-signature-version") == V4_ALGORITHM:
            return self._check_v4_url(method, bucket, key, params, headers)
        raise OssRequestError(403, "AccessDenied", "You have no right to access this object because of bucket acl.")

    def _credential(self, key_id: str, token: str | None) -> Credential:
        cred = self.credentials.get(key_id)
        if cred is None:
            raise OssRequestError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist "
                                  "in our records.", OSSAccessKeyId=key_id)
        if cred.token is not None and token != cred.token:
            raise OssRequestError(403, "InvalidSecurityToken", "The security token you provided is invalid.")
        return cred

    @staticmethod
    def _oss_headers(headers) -> str:
        items = sorted((k.lower(), v.strip()) for k, v in headers.items() if k.lower().startswith("x-oss-"))
        return "".join(f"{k}:{v}\n" for k, v in items)

    @staticmethod
    def _v1_resource(bucket: str, key: str, params: list[tuple[str, str]]) -> str:
        resource = f"/{bucket}/{key}" if bucket else "/"
        subs = sorted((k, v) for k, v in params if k in V1_SUBRESOURCES)
        if subs:
            resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subs)
        return resource

    def _check_v1(self, method, bucket, key, params, headers, auth) -> str:
        key_id, _, signature = auth[4:].partition(":")
        cred = self._credential(key_id.strip(), headers.get("x-oss-security-token"))
        date = headers.get("Date", "")
        parsed = email.utils.parsedate_tz(date)
        if parsed is None or abs(email.utils.mktime_tz(parsed) - time.time()) > SKEW:
            raise OssRequestError(403, "RequestTimeTooSkewed", "The difference between the request time and the "
                                  "current time is too large.")
        to_sign = "\n".join([method, headers.get("Content-MD5", ""), headers.get("Content-Type", ""), date,
                             self._oss_headers(headers) + self._v1_resource(bucket, key, params)])
        expected = base64.b64encode(_hmac(cred.secret.encode(), to_sign, hashlib.sha1)).decode()
        if not hmac.compare_digest(expected, signature.strip()):
            raise OssRequestError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match "
                                  "the signature you provided.", StringToSign=to_sign, OSSAccessKeyId=key_id)
        return "V1"

    def _check_v1_url(self, method, bucket, key, params, headers) -> str:
        query = dict(params)
        cred = self._credential(query["OSSAccessKeyId"], query.get("security-token"))
        expires = query.get("Expires", "")
        if not expires.isdigit() or int(expires) < time.time():
            raise OssRequestError(403, "AccessDenied", "Request has expired.")
        to_sign = "\n".join([method, headers.get("Content-MD5", ""), headers.get("Content-Type", ""), expires,
                             self._oss_headers(headers) + self._v1_resource(bucket, key, params)])
        expected = base64.b64encode(_hmac(cred.secret.encode(), to_sign, hashlib.sha1)).decode()
        if not hmac.compare_digest(expected, query.get("Signature", "")):
            raise OssRequestError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match "
                                  "the signature you provided.")
        return "V1-url"

    def _v4_signature(self, cred: Credential, method, bucket, key, params, headers, additional: list[str],
                      date_time: str, scope: str, payload: str) -> str:
        uri = _v4_encode(f"/{bucket}/{key}" if bucket else "/", keep_slash=True)
        encoded = sorted((_v4_encode(k, False), _v4_encode(v, False)) for k, v in params if k != "x-oss-signature")
        query = "&".join(f"{k}={v}" if v else k for k, v in encoded)
        signed = {"content-type", "content-md5", *additional}
        canon = sorted((k.lower(), v.strip()) for k, v in headers.items()
                       if k.lower().startswith("x-oss-") or k.lower() in signed)
        canonical = "\n".join([method, uri, query, "".join(f"{k}:{v}\n" for k, v in canon),
                               ";".join(sorted(additional)), payload])
        string_to_sign = "\n".join([V4_ALGORITHM, date_time, scope,
                                    hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
        day, region, product, _ = scope.split("/")
        signing_key = b"aliyun_v4" + cred.secret.encode()
        for part in (day, region, product, "aliyun_v4_request"):
            signing_key = _hmac(signing_key, part)
        return hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()

    def _v4_scope(self, credential: str, date_time: str) -> tuple[str, str]:
        key_id, _, scope = credential.partition("/")
        parts = scope.split("/")
        if len(parts) != 4 or parts[2] != "oss" or parts[3] != "aliyun_v4_request":
            raise OssRequestError(400, "InvalidArgument", f"invalid credential scope {scope!r}")
        if parts[1] != self.region:
            raise OssRequestError(403, "SignatureDoesNotMatch", f"region {parts[1]!r} is not {self.region!r}")
        if parts[0] != date_time[:8]:
            raise OssRequestError(403, "SignatureDoesNotMatch", "credential date does not match x-oss-date")
        return key_id, scope

    @staticmethod
    def _v4_time(date_time: str) -> float:
        try:
            return calendar.timegm(time.strptime(date_time, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            raise OssRequestError(400, "InvalidArgument", f"bad x-oss-date {date_time!r}") from None

    def _check_v4(self, method, bucket, key, params, headers, auth) -> str:
        fields = dict(part.strip().split("=", 1) for part in auth[len(V4_ALGORITHM):].split(",") if "=" in part)
        date_time = headers.get("x-oss-date", "")
        if abs(self._v4_time(date_time) - time.time()) > SKEW:
            raise OssRequestError(403, "RequestTimeTooSkewed", "The difference between the request time and the "
                                  "current time is too large.")
        key_id, scope = self._v4_scope(fields.get("Credential", ""), date_time)
        cred = self._credential(key_id, headers.get("x-oss-security-token"))
        payload = headers.get("x-oss-content-sha256")
        if not payload:
            raise OssRequestError(400, "InvalidArgument", "x-oss-content-sha256 is required with V4 signatures")
        additional = [h.lower() for h in fields.get("AdditionalHeaders", "").split(";") if h]
        expected = self._v4_signature(cred, method, bucket, key, params, headers, additional, date_time, scope,
                                      payload)
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            raise OssRequestError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match "
                                  "the signature you provided.")
        return "V4"

    def _check_v4_url(self, method, bucket, key, params, headers) -> str:
        query = dict(params)
        date_time = query.get("x-oss-date", "")
        signed_at = self._v4_time(date_time)
        expires = query.get("x-oss-expires", "")
        if not expires.isdigit() or signed_at + int(expires) < time.time():
            raise OssRequestError(403, "AccessDenied", "Request has expired.")
        key_id, scope = self._v4_scope(query.get("x-oss-credential", ""), date_time)
        cred = self._credential(key_id, query.get("x-oss-security-token"))
        additional = [h for h in query.get("x-oss-additional-headers", "").split(";") if h]
        expected = self._v4_signature(cred, method, bucket, key, params, headers, additional, date_time, scope,
                                      "UNSIGNED-PAYLOAD")
        if not hmac.compare_digest(expected, query.get("x-oss-signature", "")):
            raise OssRequestError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match "
                                  "the signature you provided.")
        return "V4-url"


class _Handler(BaseHTTPRequestHandler):
    oss: FakeOss
    protocol_version = "HTTP/1.1"
    server_version = "AliyunOSS"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def setup(self) -> None:
        super().setup()
        with self.oss.lock:
            self.oss.connections.add(self.connection)

    def finish(self) -> None:
        with self.oss.lock:
            self.oss.connections.discard(self.connection)
        super().finish()

    # -- plumbing -----------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, *,
              head: bool = False) -> None:
        self.send_response(status)
        self.send_header("x-oss-request-id", self.request_id)
        self.send_header("Date", email.utils.formatdate(usegmt=True))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _error(self, err: OssRequestError, bucket: str, head: bool) -> None:
        body = _xml("Error", [("Code", err.code), ("Message", err.message), ("RequestId", self.request_id),
                              ("HostId", f"{bucket or 'oss'}.fake"), *err.extra.items()])
        headers = {"Content-Type": "application/xml", "x-oss-ec": "0000-00000000"}
        if head:
            headers["x-oss-err"] = base64.b64encode(body).decode()
            headers["Content-Length"] = "0"
        self._send(err.status, body, headers, head=head)

    def _handle(self, method: str) -> None:
        self.request_id = secrets.token_hex(12).upper()
        split = urlsplit(self.path)
        params = parse_qsl(split.query, keep_blank_values=True)
        path = unquote(split.path)
        bucket, _, key = path.lstrip("/").partition("/")
        head = method == "HEAD"
        try:
            body = self._body()
            if self.oss.stall:
                time.sleep(self.oss.stall)
            with self.oss.lock:
                failing, self.oss.fail_next = self.oss.fail_next > 0, max(0, self.oss.fail_next - 1)
                failing = failing or bool(self.oss.fail_when and self.oss.fail_when(method, dict(params)))
            if failing:
                raise OssRequestError(503, "ServiceUnavailable", "Please reduce your request rate.")
            if path.startswith("/latest/meta-data/ram/security-credentials/"):
                return self._metadata(path.rsplit("/", 1)[-1])
            kind = self.oss.authenticate(method, bucket, key, params, self.headers)
            with self.oss.lock:
                self.oss.seen.append((method, path, kind))
            if bucket not in self.oss.buckets:
                raise OssRequestError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)
            query = dict(params)
            if not key:
                return self._bucket_op(method, bucket, query, body)
            return self._object_op(method, bucket, key, query, body)
        except OssRequestError as err:
            self._error(err, bucket, head)

    do_GET = lambda self: self._handle("GET")  # noqa: E731
    do_PUT = lambda self: self._handle("PUT")  # noqa: E731
    do_POST = lambda self: self._handle("POST")  # noqa: E731
    do_HEAD = lambda self: self._handle("HEAD")  # noqa: E731
    do_DELETE = lambda self: self._handle("DELETE")  # noqa: E731

    # -- ECS metadata (RAM role STS credentials) ----------------------------------------------------------
    def _metadata(self, role: str) -> None:
        import json

        key_id = self.oss.ram_roles.get(role)
        if key_id is None:
            return self._send(404, b"Not Found", {"Content-Type": "text/plain"})
        cred = self.oss.credentials[key_id]
        doc = {"AccessKeyId": key_id, "AccessKeySecret": cred.secret, "SecurityToken": cred.token,
               "Expiration": _iso(time.time() + 3600).replace(".000", ""),
               "LastUpdated": _iso(time.time()).replace(".000", ""),
               "Code": "Success"}
        self._send(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})

    # -- bucket operations --------------------------------------------------------------------------------
    def _bucket_op(self, method: str, bucket: str, query: dict[str, str], body: bytes) -> None:
        if method == "GET":
            return self._list(bucket, query)
        if method == "POST" and "delete" in query:
            return self._delete_many(bucket, query, body)
        raise OssRequestError(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")

    def _list(self, bucket: str, query: dict[str, str]) -> None:
        v2 = query.get("list-type") == "2"
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        max_keys = int(query.get("max-keys") or 100)
        if not 1 <= max_keys <= 1000:
            raise OssRequestError(400, "InvalidArgument", "max-keys must be between 1 and 1000")
        url = query.get("encoding-type") == "url"
        enc = (lambda s: quote(s, safe="")) if url else (lambda s: s)
        if v2:
            token = query.get("continuation-token", "")
            start = base64.urlsafe_b64decode(token.encode()).decode() if token else query.get("start-after", "")
            inclusive = bool(token)
        else:
            start, inclusive = query.get("marker", ""), False
        with self.oss.lock:
            keys = sorted(k for (b, k) in self.oss.objects if b == bucket and k.startswith(prefix))
        keys = [k for k in keys if (k >= start if inclusive else k > start)]
        contents, common, last = [], [], None
        truncated = False
        for k in keys:
            if len(contents) + len(common) >= max_keys:
                truncated = True
                break
            if delimiter and delimiter in k[len(prefix):]:
                cp = prefix + k[len(prefix):].split(delimiter)[0] + delimiter
                if cp not in common:
                    common.append(cp)
                last = k
                continue
            obj = self.oss.objects[(bucket, k)]
            contents.append(("Contents", [("Key", enc(k)), ("LastModified", _iso(obj.mtime)),
                                          ("ETag", f'"{obj.etag}"'), ("Type", obj.kind), ("Size", len(obj.data)),
                                          ("StorageClass", "Standard"),
                                          ("Owner", [("ID", "0"), ("DisplayName", "fake")])]))
            last = k
        children: list[tuple[str, object]] = [("Name", bucket), ("Prefix", enc(prefix)), ("MaxKeys", max_keys),
                                              ("Delimiter", enc(delimiter))]
        if url:
            children.append(("EncodingType", "url"))
        children.append(("IsTruncated", str(truncated).lower()))
        if v2:
            children.append(("KeyCount", len(contents) + len(common)))
            if truncated:
                token = base64.urlsafe_b64encode(keys[keys.index(last) + 1].encode()).decode()
                children.append(("NextContinuationToken", enc(token)))
        else:
            children.insert(2, ("Marker", enc(query.get("marker", ""))))
            if truncated:
                children.append(("NextMarker", enc(last)))
        children += contents + [("CommonPrefixes", [("Prefix", enc(cp))]) for cp in common]
        self._send(200, _xml("ListBucketResult", children), {"Content-Type": "application/xml"})

    def _delete_many(self, bucket: str, query: dict[str, str], body: bytes) -> None:
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        if self.headers.get("Content-MD5") != md5:
            raise OssRequestError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        root = ET.fromstring(body)
        url = query.get("encoding-type") == "url"
        quiet = (root.findtext("Quiet") or "false").lower() == "true"
        deleted = []
        with self.oss.lock:
            for node in root.findall("Object"):
                key = node.findtext("Key") or ""
                self.oss.objects.pop((bucket, key), None)
                deleted.append(("Deleted", [("Key", quote(key, safe="") if url else key)]))
        children = ([("EncodingType", "url")] if url else []) + ([] if quiet else deleted)
        self._send(200, _xml("DeleteResult", children), {"Content-Type": "application/xml"})

    # -- object operations --------------------------------------------------------------------------------
    def _object_headers(self, obj: StoredObject) -> dict[str, str]:
        return {"Content-Type": obj.content_type, "ETag": f'"{obj.etag}"',
                "Last-Modified": email.utils.formatdate(obj.mtime, usegmt=True),
                "x-oss-hash-crc64ecma": str(obj.crc), "x-oss-object-type": obj.kind, "Accept-Ranges": "bytes"}

    def _object_op(self, method: str, bucket: str, key: str, query: dict[str, str], body: bytes) -> None:
        if "uploadId" in query or "uploads" in query:
            return self._multipart(method, bucket, key, query, body)
        if method == "PUT":
            md5 = self.headers.get("Content-MD5")
            if md5 and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
                raise OssRequestError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
            obj = StoredObject(body, hashlib.md5(body).hexdigest().upper(), time.time(),
                               self.headers.get("Content-Type") or "application/octet-stream")
            forbid = (self.headers.get("x-oss-forbid-overwrite") or "").lower() == "true"
            with self.oss.lock:  # PutObject's documented x-oss-forbid-overwrite: 409 FileAlreadyExists
                if forbid and (bucket, key) in self.oss.objects:
                    raise OssRequestError(409, "FileAlreadyExists", "The object you specified already exists and "
                                          "can not be overwritten.")
                self.oss.objects[(bucket, key)] = obj
            return self._send(200, b"", {"ETag": f'"{obj.etag}"', "x-oss-hash-crc64ecma": str(obj.crc),
                                         "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()})
        with self.oss.lock:
            obj = self.oss.objects.get((bucket, key))
        if method == "DELETE":
            with self.oss.lock:
                self.oss.objects.pop((bucket, key), None)
            return self._send(204)
        if obj is None:
            raise OssRequestError(404, "NoSuchKey", "The specified key does not exist.", Key=key)
        headers = self._object_headers(obj)
        if method == "HEAD":
            headers["Content-Length"] = str(len(obj.data))
            return self._send(200, b"", headers, head=True)
        if method != "GET":
            raise OssRequestError(405, "MethodNotAllowed", "The specified method is not allowed against this "
                                  "resource.")
        data, status = obj.data, 200
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and "," not in ranged:
            first, _, last = ranged[6:].partition("-")
            if first.isdigit() and int(first) < len(data):
                end = min(int(last), len(data) - 1) if last.isdigit() else len(data) - 1
                headers["Content-Range"] = f"bytes {first}-{end}/{len(data)}"
                data, status = data[int(first):end + 1], 206
        if self.oss.truncate_reads and len(data) > 1:
            headers["Content-Length"] = str(len(data))
            self._send(status, b"", headers, head=True)
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        return self._send(status, data, headers)

    def _multipart(self, method: str, bucket: str, key: str, query: dict[str, str], body: bytes) -> None:
        if method == "POST" and "uploads" in query:
            upload_id = secrets.token_hex(16).upper()
            with self.oss.lock:
                self.oss.uploads[upload_id] = Upload(bucket, key, self.headers.get("Content-Type")
                                                     or "application/octet-stream")
            return self._send(200, _xml("InitiateMultipartUploadResult", [
                ("Bucket", bucket), ("Key", key), ("UploadId", upload_id)]), {"Content-Type": "application/xml"})
        upload_id = query.get("uploadId", "")
        with self.oss.lock:
            upload = self.oss.uploads.get(upload_id)
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            raise OssRequestError(404, "NoSuchUpload", "The specified upload does not exist.", UploadId=upload_id)
        if method == "PUT":
            number = int(query.get("partNumber") or 0)
            if not 1 <= number <= 10000:
                raise OssRequestError(400, "InvalidArgument", "partNumber must be between 1 and 10000")
            with self.oss.lock:
                upload.parts[number] = body
            return self._send(200, b"", {"ETag": f'"{hashlib.md5(body).hexdigest().upper()}"',
                                         "x-oss-hash-crc64ecma": str(crc64(body))})
        if method == "GET":
            parts = [("Part", [("PartNumber", n), ("LastModified", _iso(time.time())),
                               ("ETag", f'"{hashlib.md5(d).hexdigest().upper()}"'),
                               ("HashCrc64ecma", crc64(d)), ("Size", len(d))]) for n, d in sorted(upload.parts.items())]
            return self._send(200, _xml("ListPartsResult", [
                ("Bucket", bucket), ("Key", key), ("UploadId", upload_id), ("PartNumberMarker", 0),
                ("NextPartNumberMarker", max(upload.parts, default=0)), ("MaxParts", 1000),
                ("IsTruncated", "false"), *parts]), {"Content-Type": "application/xml"})
        if method == "DELETE":
            with self.oss.lock:
                self.oss.uploads.pop(upload_id, None)
            return self._send(204)
        return self._complete(bucket, key, upload_id, upload, body)

    def _complete(self, bucket: str, key: str, upload_id: str, upload: Upload, body: bytes) -> None:
        listed = [(int(p.findtext("PartNumber") or 0), (p.findtext("ETag") or "").strip('"'))
                  for p in ET.fromstring(body).findall("Part")]
        if not listed or [n for n, _ in listed] != sorted({n for n, _ in listed}):
            raise OssRequestError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
        chunks = []
        for index, (number, etag) in enumerate(listed):
            data = upload.parts.get(number)
            if data is None or hashlib.md5(data).hexdigest().upper() != etag.upper():
                raise OssRequestError(400, "InvalidPart", "One or more of the specified parts could not be found "
                                      "or the specified entity tag might not have matched the part's entity tag.")
            if index < len(listed) - 1 and len(data) < MIN_PART:
                raise OssRequestError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum "
                                      "allowed size.")
            chunks.append(data)
        data = b"".join(chunks)
        digest = hashlib.md5(b"".join(hashlib.md5(c).digest() for c in chunks)).hexdigest().upper()
        obj = StoredObject(data, f"{digest}-{len(chunks)}", time.time(), upload.content_type, kind="Multipart")
        with self.oss.lock:
            self.oss.objects[(bucket, key)] = obj
            self.oss.uploads.pop(upload_id, None)
        self._send(200, _xml("CompleteMultipartUploadResult", [
            ("Location", f"{self.oss.endpoint}/{bucket}/{key}"), ("Bucket", bucket), ("Key", key),
            ("ETag", f'"{obj.etag}"')]), {"Content-Type": "application/xml", "ETag": f'"{obj.etag}"',
                                          "x-oss-hash-crc64ecma": str(obj.crc)})
