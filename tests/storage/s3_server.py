"""A real local S3 endpoint for the tests: moto_server (from moto[server]) in a subprocess on a free loopback
port, WITH signature checking on: the first few calls (INITIAL_NO_AUTH_ACTION_COUNT) create an IAM user, its
access key and an s3:* policy; every later request must be signed with that key (a wrong secret gets 403).

moto cannot check query-string (presigned) signatures once auth is on (it answers 500: it only reads the
Authorization header), and ignores them when auth is off. So `PresignGate` stands in for the endpoint that
signed URLs name (`S3Storage(public_endpoint_url=...)`): it verifies the SigV4 query signature with its own
HMAC code, from AWS's published SigV4 documentation, and on success serves the object it fetched from moto.
"""
from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from tests.support import free_port, wait_for

BOOTSTRAP_CALLS = 3  # create_user, create_access_key, put_user_policy


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class MotoS3:
    """`start()` runs moto_server and makes the IAM key; `session()` is a boto3 session with it; `stop()`."""

    region = "us-east-1"

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_dir) / f"moto-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.access_key = self.secret_key = ""

    def start(self) -> MotoS3:
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(BOOTSTRAP_CALLS))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     env=env, stdout=self._log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or _port_open(self.port), timeout=60)
        if self.proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {self.proc.returncode}: {self.log_path.read_text()}")
        import boto3

        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=self.region,
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="easel")
        key = iam.create_access_key(UserName="easel")["AccessKey"]
        iam.put_user_policy(UserName="easel", PolicyName="s3-all", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        return self

    def session(self, secret: str | None = None):
        import boto3

        return boto3.session.Session(aws_access_key_id=self.access_key,
                                     aws_secret_access_key=self.secret_key if secret is None else secret,
                                     region_name=self.region)

    def client(self, secret: str | None = None):
        return self.session(secret).client("s3", endpoint_url=self.endpoint)

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()


def _sign_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class PresignGate:
    """Serves GETs signed in the query string (SigV4) for one moto endpoint; 403 XML for a bad signature."""

    def __init__(self, moto: MotoS3):
        self.moto = moto
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                status, body, ctype = gate.serve(self.command, self.path, self.headers)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="presign-gate", daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    @staticmethod
    def _error(code: str, message: str, status: int = 403) -> tuple[int, bytes, str]:
        xml = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
        return status, xml.encode(), "application/xml"

    def serve(self, method: str, raw_path: str, headers) -> tuple[int, bytes, str]:
        split = urlsplit(raw_path)
        params = parse_qsl(split.query, keep_blank_values=True)
        query = dict(params)
        if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            return self._error("AccessDenied", "only SigV4 presigned GETs are served here")
        key_id, _, scope = query.get("X-Amz-Credential", "").partition("/")
        day, region, service, _ = (scope.split("/") + ["", "", "", ""])[:4]
        if key_id != self.moto.access_key:
            return self._error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist.")
        amz_date = query.get("X-Amz-Date", "")
        signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        if signed_at + int(query.get("X-Amz-Expires", "0")) < time.time():
            return self._error("AccessDenied", "Request has expired")
        path = unquote(split.path)
        canonical_query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in
                                   sorted(params) if k != "X-Amz-Signature")
        signed_headers = query.get("X-Amz-SignedHeaders", "host").split(";")
        canonical_headers = "".join(f"{h}:{(headers.get(h) or '').strip()}\n" for h in signed_headers)
        canonical = "\n".join([method, quote(path, safe="/~"), canonical_query, canonical_headers,
                               ";".join(signed_headers), "UNSIGNED-PAYLOAD"])
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        expected = hmac.new(_sign_key(self.moto.secret_key, day, region, service), to_sign.encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, query.get("X-Amz-Signature", "")):
            return self._error("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                               "signature you provided.")
        bucket, _, key = path.lstrip("/").partition("/")
        from botocore.exceptions import ClientError

        try:
            obj = self.moto.client().get_object(Bucket=bucket, Key=key)
        except ClientError as e:
            return self._error(e.response["Error"]["Code"], "not served", 404)
        return 200, obj["Body"].read(), obj.get("ContentType", "application/octet-stream")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
