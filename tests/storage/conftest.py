"""Storage backends for the contract suite, and the servers behind them.

The pattern (copy it for another interface's contract suite): one builder per implementation, registered in
BACKENDS by name; the parametrized `storage` fixture builds each one lazily through `request`, so a run of
only the local case starts no server. Servers are session-scoped and shared; every test gets its own key
prefix, so tests never see each other's objects. Tests that stop a server start their own (`moto_factory`,
`fake_oss_factory`).

- S3: moto_server (a real S3 endpoint) with signature checking on; see tests/storage/s3_server.py.
- OSS: a PROTOCOL FAKE that verifies V1/V4 signatures itself, driven through oss2; see tests/storage/oss_fake.py.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from modules.storage.base import Storage
from modules.storage.retry import RetryPolicy
from tests.storage.oss_fake import Credential, FakeOss
from tests.storage.s3_server import MotoS3, PresignGate

BUCKET = "easel-test"
OSS_KEY, OSS_SECRET = "LTAIeaselTestKey", "easel-test-secret"
STS_KEY, STS_SECRET, STS_TOKEN = "STS.easelTemp", "easel-sts-secret", "easel-sts-token"
RAM_ROLE = "EaselWorkerRole"
FAST = RetryPolicy(attempts=3, backoff=0.02, max_backoff=0.1, timeout=5.0)
S3_PART = 5 << 20  # S3's (and moto's) smallest part
OSS_PART = 128 << 10


def oss_credentials() -> dict[str, Credential]:
    return {OSS_KEY: Credential(OSS_SECRET), STS_KEY: Credential(STS_SECRET, STS_TOKEN)}


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory) -> MotoS3:
    server = MotoS3(tmp_path_factory.mktemp("moto")).start()
    server.create_bucket(BUCKET)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def presign_gate(moto_s3) -> PresignGate:
    gate = PresignGate(moto_s3)
    yield gate
    gate.stop()


@pytest.fixture(scope="session")
def fake_oss() -> FakeOss:
    fake = FakeOss(oss_credentials(), [BUCKET]).start()
    fake.ram_roles[RAM_ROLE] = STS_KEY
    yield fake
    fake.stop()


@pytest.fixture()
def moto_factory(tmp_path):
    """Start a private moto_server (for tests that stop it); stopped at the end in any case."""
    started: list[MotoS3] = []

    def start() -> MotoS3:
        server = MotoS3(tmp_path).start()
        server.create_bucket(BUCKET)
        started.append(server)
        return server
    yield start
    for server in started:
        server.stop()


@pytest.fixture()
def fake_oss_factory():
    started: list[FakeOss] = []

    def start() -> FakeOss:
        fake = FakeOss(oss_credentials(), [BUCKET]).start()
        started.append(fake)
        return fake
    yield start
    for fake in started:
        fake.stop()


def s3_storage(moto: MotoS3, prefix: str, *, gate: PresignGate | None = None, retry: RetryPolicy = FAST,
               secret: str | None = None) -> Storage:
    from modules.storage.s3 import S3Storage

    return S3Storage(BUCKET, prefix, endpoint_url=moto.endpoint, session=moto.session(secret), retry=retry,
                     multipart_threshold=S3_PART, part_size=S3_PART,
                     public_endpoint_url=gate.endpoint if gate else None)


def oss_storage(fake: FakeOss, prefix: str, *, region: str | None = None, retry: RetryPolicy = FAST,
                key: str = OSS_KEY, secret: str = OSS_SECRET, token: str = "", tmp: Path | None = None) -> Storage:
    from oss2.credentials import StaticCredentialsProvider

    from modules.storage.oss import OssStorage

    return OssStorage(BUCKET, prefix, endpoint=fake.endpoint, provider=StaticCredentialsProvider(key, secret, token),
                      region=region, retry=retry, multipart_threshold=2 * OSS_PART, part_size=OSS_PART,
                      checkpoint_dir=tmp)


def _local(request, prefix: str) -> Storage:
    from modules.storage.local import LocalStorage

    return LocalStorage(request.getfixturevalue("tmp_path") / "store")


def _s3(request, prefix: str) -> Storage:
    return s3_storage(request.getfixturevalue("moto_s3"), prefix, gate=request.getfixturevalue("presign_gate"))


def _oss_v1(request, prefix: str) -> Storage:
    return oss_storage(request.getfixturevalue("fake_oss"), prefix, tmp=request.getfixturevalue("tmp_path"))


def _oss_v4(request, prefix: str) -> Storage:
    fake = request.getfixturevalue("fake_oss")
    return oss_storage(fake, prefix, region=fake.region, tmp=request.getfixturevalue("tmp_path"))


BACKENDS: dict[str, Callable[..., Storage]] = {"local": _local, "s3": _s3, "oss-v1": _oss_v1, "oss-v4": _oss_v4}


@pytest.fixture(params=list(BACKENDS))
def storage(request) -> Storage:
    """Each Storage implementation in turn, empty, under a prefix of its own."""
    store = BACKENDS[request.param](request, f"t-{secrets.token_hex(4)}")
    yield store
    store.close()
