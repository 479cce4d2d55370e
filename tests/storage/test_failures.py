"""Credentials, signatures and a store that fails: refused keys get 403 from the store and one clear
StorageUnavailableError (503) from Easel; a store that is down, drops a stream, answers 503 or stalls is
retried a bounded number of times and then reported the same way.

OSS runs against the protocol fake in tests/storage/oss_fake.py (it verifies signatures itself); S3 against
moto_server with signature checking on."""
from __future__ import annotations

from argparse import Namespace

import httpx
import oss2
import pytest
from botocore.exceptions import ClientError

from modules.errors import StorageUnavailableError
from modules.storage.factory import storage_from_url
from modules.storage.retry import RetryPolicy
from tests.storage.conftest import (
    BUCKET,
    OSS_KEY,
    OSS_SECRET,
    RAM_ROLE,
    STS_KEY,
    STS_SECRET,
    STS_TOKEN,
    oss_storage,
    s3_storage,
)


def test_s3_wrong_secret_gets_403_and_a_clear_storage_error(moto_s3):
    with pytest.raises(ClientError) as raw:
        moto_s3.client(secret="not-the-secret").put_object(Bucket=BUCKET, Key="x", Body=b"1")
    assert raw.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert raw.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    store = s3_storage(moto_s3, "auth", secret="not-the-secret")
    with pytest.raises(StorageUnavailableError) as info:
        store.write("x.png", b"1")
    assert info.value.status_code == 503
    assert "refused Easel's credentials (SignatureDoesNotMatch)" in info.value.message
    assert "not-the-secret" not in info.value.message and moto_s3.secret_key not in info.value.message


def test_s3_unsigned_requests_are_refused(moto_s3):
    s3_storage(moto_s3, "anon").write("x.png", b"1")
    assert httpx.get(f"{moto_s3.endpoint}/{BUCKET}/anon/x.png").status_code == 403


def test_oss_wrong_secret_and_unknown_key_get_403(fake_oss, tmp_path):
    raw = oss2.Bucket(oss2.Auth(OSS_KEY, "not-the-secret"), fake_oss.endpoint, BUCKET)
    with pytest.raises(oss2.exceptions.OssError) as err:
        raw.put_object("x", b"1")
    assert (err.value.status, err.value.code) == (403, "SignatureDoesNotMatch")
    assert err.value.request_id  # every answer carries x-oss-request-id
    for key, secret in ((OSS_KEY, "not-the-secret"), ("LTAInobody", OSS_SECRET)):
        store = oss_storage(fake_oss, "auth", key=key, secret=secret, tmp=tmp_path)
        with pytest.raises(StorageUnavailableError) as info:
            store.write("x.png", b"1")
        assert "refused Easel's credentials" in info.value.message
        assert "not-the-secret" not in info.value.message


def test_oss_sts_credentials_need_their_token(fake_oss, tmp_path):
    with pytest.raises(StorageUnavailableError, match="InvalidSecurityToken"):
        oss_storage(fake_oss, "sts", key=STS_KEY, secret=STS_SECRET, tmp=tmp_path).write("x.png", b"1")
    for region in (None, fake_oss.region):
        store = oss_storage(fake_oss, "sts", key=STS_KEY, secret=STS_SECRET, token=STS_TOKEN, region=region, tmp=tmp_path)
        store.write("x.png", b"sts")
        assert store.read("x.png") == b"sts"
        assert httpx.get(store.signed_url("x.png", 60)).content == b"sts"


def test_oss_uses_v4_when_the_region_is_known_else_v1(fake_oss_factory, tmp_path):
    for region, kinds in ((None, {"V1", "V1-url"}), ("cn-fake", {"V4", "V4-url"})):
        fake = fake_oss_factory()
        store = oss_storage(fake, "sig", region=region, tmp=tmp_path)
        assert store.signature == ("V4" if region else "V1")
        store.write("a.png", b"1")
        store.read("a.png")
        httpx.get(store.signed_url("a.png", 60))
        assert fake.signature_kinds() == kinds


def test_oss_credential_chain_from_the_environment(fake_oss):
    env = {"OSS_ACCESS_KEY_ID": OSS_KEY, "OSS_ACCESS_KEY_SECRET": OSS_SECRET, "OSS_ENDPOINT": fake_oss.endpoint,
           "OSS_REGION": fake_oss.region}
    store = storage_from_url(f"oss://{BUCKET}/envchain", Namespace(), default_root=None, env=env)
    assert (store.signature, store.prefix) == ("V4", "envchain")
    store.write("k.png", b"env")
    assert store.read("k.png") == b"env"


def test_oss_credential_chain_from_an_ecs_ram_role(fake_oss):
    """The fake also serves the instance metadata path that hands out the role's STS credentials."""
    env = {"OSS_ECS_METADATA_URL": fake_oss.endpoint}
    opts = Namespace(oss_endpoint=fake_oss.endpoint, oss_ecs_ram_role=RAM_ROLE)
    store = storage_from_url(f"oss://{BUCKET}/ramrole", opts, default_root=None, env=env)
    store.write("k.png", b"role")
    assert store.read("k.png") == b"role"


@pytest.mark.parametrize("backend", ["s3", "oss"])
def test_a_store_that_goes_down_gives_one_clear_error(backend, moto_factory, fake_oss_factory, tmp_path):
    policy = RetryPolicy(attempts=2, backoff=0.01, timeout=2.0)
    if backend == "s3":
        server = moto_factory()
        store = s3_storage(server, "down", retry=policy)
    else:
        server = fake_oss_factory()
        store = oss_storage(server, "down", retry=policy, tmp=tmp_path)
    store.write("before.png", b"1")
    server.stop()
    for action in (lambda: store.read("before.png"), lambda: store.write("after.png", b"2"),
                   lambda: list(store.list("")), lambda: store.exists("before.png")):
        with pytest.raises(StorageUnavailableError) as info:
            action()
        assert info.value.status_code == 503
        assert store.describe() in info.value.message and "after 2 attempts" in info.value.message


def test_a_stream_cut_off_midway_is_a_storage_error(fake_oss_factory, tmp_path):
    fake = fake_oss_factory()
    store = oss_storage(fake, "cut", tmp=tmp_path)
    store.write("half.bin", b"x" * 200_000)
    fake.truncate_reads = True
    with pytest.raises(StorageUnavailableError, match="broke off"):
        store.read("half.bin")


def test_transient_503s_are_retried_a_bounded_number_of_times(fake_oss_factory, tmp_path):
    fake = fake_oss_factory()
    store = oss_storage(fake, "retry", retry=RetryPolicy(attempts=3, backoff=0.01), tmp=tmp_path)
    fake.fail_next = 2
    store.write("ok.png", b"third time")
    assert store.read("ok.png") == b"third time"
    fake.fail_next = 3
    with pytest.raises(StorageUnavailableError, match=r"after 3 attempts \(HTTP 503 ServiceUnavailable"):
        store.read("ok.png")
    assert fake.fail_next == 0  # exactly three tries were made


def test_every_call_has_a_timeout(fake_oss_factory, tmp_path):
    fake = fake_oss_factory()
    store = oss_storage(fake, "slow", retry=RetryPolicy(attempts=2, backoff=0.01, timeout=0.3), tmp=tmp_path)
    fake.stall = 2.0
    with pytest.raises(StorageUnavailableError, match="(?i)timed? ?out"):
        store.write("slow.png", b"1")
