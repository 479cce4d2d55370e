"""The OSS protocol fake (tests/storage/oss_fake.py) against the real oss2 client, for the parts of the
documented protocol the Storage contract does not reach: ListObjects V1 and V2 paging and delimiters, HEAD
errors, ranged reads, and a resumable upload that resumes after a failed part."""
from __future__ import annotations

import os

import oss2
import pytest

from modules.errors import StorageUnavailableError
from modules.storage.retry import RetryPolicy
from tests.storage.conftest import BUCKET, OSS_KEY, OSS_PART, OSS_SECRET, oss_storage


@pytest.fixture()
def bucket(fake_oss_factory):
    fake = fake_oss_factory()
    raw = oss2.Bucket(oss2.AuthV4(OSS_KEY, OSS_SECRET), fake.endpoint, BUCKET, region=fake.region)
    for key in ("a/1", "a/2", "a/b/3", "a/b/4", "a/c 5", "z"):
        raw.put_object(key, key.encode())
    return raw


def test_list_objects_v1_and_v2_page_and_group(bucket):
    assert [o.key for o in oss2.ObjectIterator(bucket, prefix="a/", max_keys=2)] == [
        "a/1", "a/2", "a/b/3", "a/b/4", "a/c 5"]
    assert [o.key for o in oss2.ObjectIteratorV2(bucket, prefix="a/", max_keys=2)] == [
        "a/1", "a/2", "a/b/3", "a/b/4", "a/c 5"]
    page = bucket.list_objects_v2(prefix="a/", delimiter="/")
    assert [o.key for o in page.object_list] == ["a/1", "a/2", "a/c 5"] and page.prefix_list == ["a/b/"]
    page = bucket.list_objects(prefix="a/", delimiter="/", max_keys=100)
    assert page.prefix_list == ["a/b/"] and not page.is_truncated


def test_head_errors_and_ranged_reads(bucket):
    with pytest.raises(oss2.exceptions.NoSuchKey) as err:
        bucket.head_object("missing")
    assert err.value.request_id  # the code came from the x-oss-err header (HEAD has no body)
    assert bucket.get_object("a/b/3", byte_range=(2, 3)).read() == b"b/"


def test_a_resumable_upload_resumes_with_the_missing_parts(fake_oss_factory, tmp_path):
    fake = fake_oss_factory()
    store = oss_storage(fake, "resume", retry=RetryPolicy(attempts=1), tmp=tmp_path / "checkpoints")
    data = os.urandom(6 * OSS_PART + 7)  # 7 parts
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    failed = []

    def fail_part_five(method, query):
        if method == "PUT" and query.get("partNumber") == "5" and not failed:
            failed.append(True)
            return True
        return False
    fake.fail_when = fail_part_five
    with pytest.raises(StorageUnavailableError):
        store.write_file("models/model.safetensors", path)
    first = [p for m, p, _ in fake.seen if m == "PUT"]
    store.write_file("models/model.safetensors", path)
    second = [p for m, p, _ in fake.seen if m == "PUT"][len(first):]
    assert any(m == "GET" for m, _, _ in fake.seen)  # nothing read the object yet: this was ListParts
    assert 1 <= len(second) < 7  # only the parts the first attempt did not finish
    assert store.read("models/model.safetensors") == data
