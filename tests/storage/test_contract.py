"""The Storage contract, run against every backend: local disk, S3 (moto_server with signature checking on)
and OSS (the protocol fake in tests/storage/oss_fake.py, which verifies V1 and V4 signatures itself, driven
through the real oss2 client). See conftest.py for how backends are registered."""
from __future__ import annotations

import os
import threading
import time

import httpx
import pytest

from modules.errors import ConflictError, ForbiddenPathError, InvalidRequestError, NotFoundError
from modules.storage.base import Storage

BINARY = bytes(range(256)) * 64


def test_write_then_read_round_trips_bytes(storage: Storage):
    assert storage.write("tasks/t1/00000.png", BINARY) == "tasks/t1/00000.png"
    assert storage.read("tasks/t1/00000.png") == BINARY
    assert storage.exists("tasks/t1/00000.png")


def test_overwrite_replaces_the_object(storage: Storage):
    storage.write("a/x.bin", b"old")
    storage.write("a/x.bin", b"new content")
    assert storage.read("a/x.bin") == b"new content"
    assert storage.stat("a/x.bin").size == len(b"new content")


def test_stat_reports_size_mtime_and_etag(storage: Storage):
    before = time.time()
    storage.write("s/file.txt", b"12345")
    info = storage.stat("s/file.txt")
    assert (info.key, info.size) == ("s/file.txt", 5)
    assert before - 120 <= info.mtime <= time.time() + 120  # store clocks have second resolution
    if storage.scheme != "file":
        assert info.etag and info.etag.lower() == "827ccb0eea8a706c4c34a16891f84e7b"  # MD5 of a one-part PUT


def test_missing_objects(storage: Storage):
    assert not storage.exists("nothing/here.png")
    for call in (storage.read, storage.stat, storage.open_stream):
        with pytest.raises(NotFoundError):
            call("nothing/here.png")
    storage.delete("nothing/here.png")  # deleting what is gone is not an error


def test_streaming_read(storage: Storage):
    storage.write("big/stream.bin", BINARY * 8)
    with storage.open_stream("big/stream.bin") as stream:
        pieces = []
        while block := stream.read(1000):
            pieces.append(block)
    assert b"".join(pieces) == BINARY * 8
    assert b"".join(storage.iter_chunks("big/stream.bin", 4096)) == BINARY * 8


def test_read_limited_refuses_oversized_objects(storage: Storage):
    storage.write("in/img.png", b"x" * 1000)
    assert storage.read_limited("in/img.png", 1000) == b"x" * 1000
    with pytest.raises(InvalidRequestError) as info:
        storage.read_limited("in/img.png", 999, field="init_images")
    assert info.value.field == "init_images" and "999" in info.value.message


def test_list_is_by_folder_sorted_with_sizes(storage: Storage):
    for key, size in {"p/b/2.png": 2, "p/b/1.png": 1, "p/b/deep/3.png": 3, "p/bc/4.png": 4, "q/5.png": 5}.items():
        storage.write(key, b"z" * size)
    listed = list(storage.list("p/b"))
    assert [i.key for i in listed] == ["p/b/1.png", "p/b/2.png", "p/b/deep/3.png"]
    assert [i.size for i in listed] == [1, 2, 3]
    assert all(i.mtime > 0 for i in listed)
    assert [i.key for i in storage.list("")] == ["p/b/1.png", "p/b/2.png", "p/b/deep/3.png", "p/bc/4.png", "q/5.png"]
    assert list(storage.list("missing")) == []


def test_write_new_refuses_an_existing_key_in_the_store_itself(storage: Storage):
    assert storage.write_new("n/00000.png", b"first") == "n/00000.png"
    with pytest.raises(ConflictError):
        storage.write_new("n/00000.png", b"second")
    assert storage.read("n/00000.png") == b"first"


def test_concurrent_write_new_has_exactly_one_winner(storage: Storage):
    barrier, outcomes = threading.Barrier(6), []

    def writer(index: int) -> None:
        barrier.wait()
        try:
            storage.write_new("race/00000.png", f"writer {index}".encode())
            outcomes.append(("won", index))
        except ConflictError:
            outcomes.append(("lost", index))
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [index for verdict, index in outcomes if verdict == "won"]
    assert len(outcomes) == 6 and len(winners) == 1
    assert storage.read("race/00000.png") == f"writer {winners[0]}".encode()


def test_list_folder_is_one_level(storage: Storage):
    for key in ("f/a/1.png", "f/a/deep/2.png", "f/b/3.png", "f/4.png", "f/5.png", "fx/6.png"):
        storage.write(key, b"x" * 3)
    level = storage.list_folder("f")
    assert level.folders == ["f/a", "f/b"]
    assert [(o.key, o.size) for o in level.objects] == [("f/4.png", 3), ("f/5.png", 3)]
    assert storage.list_folder("f/a").folders == ["f/a/deep"]
    root = storage.list_folder("")
    assert root.folders == ["f", "fx"] and root.objects == []
    assert storage.list_folder("missing").folders == [] and storage.list_folder("missing").objects == []


def test_delete_and_delete_prefix(storage: Storage):
    for key in ("d/1/a.png", "d/1/b.png", "d/1/c/d.png", "d/10/e.png", "d/2.png"):
        storage.write(key, b"1")
    storage.delete("d/2.png")
    assert not storage.exists("d/2.png")
    assert storage.delete_prefix("d/1") == 3
    assert [i.key for i in storage.list("d")] == ["d/10/e.png"]
    assert storage.delete_prefix("d/1") == 0


@pytest.mark.parametrize("key", ["../x.png", "a/../../x.png", "/abs.png", "a//b.png", "a\\b.png", "a/b c.png", ""])
def test_bad_keys_are_refused_before_any_call(storage: Storage, key: str):
    with pytest.raises((ForbiddenPathError, InvalidRequestError)):
        storage.write(key, b"1")


def test_large_objects_go_up_in_parts(storage: Storage, tmp_path):
    threshold = getattr(storage, "multipart_threshold", 1 << 20)
    data = os.urandom(2 * threshold + 12345)
    storage.write("large/one.bin", data)
    assert storage.read("large/one.bin") == data
    path = tmp_path / "upload.bin"
    path.write_bytes(data[::-1])
    storage.write_file("large/two.bin", path)
    assert storage.read("large/two.bin") == data[::-1]
    if storage.scheme != "file":  # a multipart object's ETag ends in -<number of parts>
        for key in ("large/one.bin", "large/two.bin"):
            etag = storage.stat(key).etag
            assert etag and int(etag.rsplit("-", 1)[1]) >= 2, etag


def test_signed_urls_serve_the_bytes_and_refuse_tampering(storage: Storage):
    storage.write("signed/pic.png", b"\x89PNG fake bytes")
    url = storage.signed_url("signed/pic.png", 300)
    if storage.scheme == "file":
        assert url is None  # local results are served by Easel's own signed /storage links
        return
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == b"\x89PNG fake bytes"
    assert response.headers["content-type"] == "image/png"
    signature_param = "X-Amz-Signature=" if storage.scheme == "s3" else (
        "x-oss-signature=" if "x-oss-signature=" in url else "Signature=")
    head, _, tail = url.partition(signature_param)
    flipped = ("0" if tail[0] != "0" else "1") + tail[1:]
    assert httpx.get(head + signature_param + flipped).status_code == 403
    other = url.replace("signed/pic.png", "signed/other.png")
    storage.write("signed/other.png", b"secret")
    assert httpx.get(other).status_code == 403


def test_reference_names_the_object_in_its_store(storage: Storage):
    storage.write("r/x.png", b"1")
    ref = storage.reference("r/x.png")
    if storage.scheme == "file":
        assert ref == str(storage.local_path("r/x.png"))
    else:
        assert ref == f"{storage.scheme}://{storage.bucket}/{storage.prefix}/r/x.png"
        assert storage.local_path("r/x.png") is None
