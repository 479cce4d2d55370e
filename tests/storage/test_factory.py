"""`--storage-url` parsing and the backend it picks; bad values are refused naming the flag."""
from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import pytest

from modules.cmd_args import parse_args
from modules.errors import InvalidRequestError
from modules.storage.factory import parse_storage_url, storage_from_url
from modules.storage.local import LocalStorage
from modules.storage.oss import region_from_endpoint
from modules.storage.s3 import S3Storage


def test_default_and_file_forms_are_local(tmp_path):
    assert storage_from_url(None, None, default_root=tmp_path / "out").root == (tmp_path / "out").resolve()
    assert storage_from_url(str(tmp_path / "a"), None, default_root=tmp_path).root == (tmp_path / "a").resolve()
    store = storage_from_url(f"file://{tmp_path}/b", None, default_root=tmp_path)
    assert isinstance(store, LocalStorage) and store.root == (tmp_path / "b").resolve()


def test_object_store_urls_split_into_bucket_and_prefix():
    assert parse_storage_url("oss://my-bucket/easel/outputs/") == parse_storage_url("oss://my-bucket/easel/outputs")
    spec = parse_storage_url("s3://my.bucket")
    assert (spec.scheme, spec.bucket, spec.prefix) == ("s3", "my.bucket", "")
    assert parse_storage_url("file:///x/y").path == Path("/x/y")


@pytest.mark.parametrize("url", ["ftp://bucket/x", "s3://B/x", "s3://ab/x", "oss://bucket/../x",
                                 "s3://key:secret@bucket/x", "oss://bucket/x?region=y", "file://host/x", " "])
def test_bad_urls_name_the_flag(url):
    with pytest.raises(InvalidRequestError) as info:
        parse_storage_url(url)
    assert info.value.field == "--storage-url"


def test_s3_flags_reach_the_client(tmp_path):
    opts = parse_args(["--storage-url", "s3://easel-bucket/p", "--s3-endpoint-url", "http://127.0.0.1:9",
                       "--s3-region", "eu-west-3", "--storage-timeout", "7", "--storage-retries", "2",
                       "--storage-multipart-mb", "8"])
    store = storage_from_url(opts.storage_url, opts, default_root=tmp_path)
    assert isinstance(store, S3Storage)
    assert (store.bucket, store.prefix, store.endpoint_url) == ("easel-bucket", "p", "http://127.0.0.1:9")
    assert store.client.meta.region_name == "eu-west-3"
    assert (store.retry.attempts, store.retry.timeout, store.multipart_threshold) == (2, 7.0, 8 << 20)


def test_oss_needs_credentials_and_an_endpoint(tmp_path):
    with pytest.raises(InvalidRequestError, match="OSS_ACCESS_KEY_ID"):
        storage_from_url("oss://easel-bucket", Namespace(oss_endpoint="http://127.0.0.1:9"), default_root=tmp_path,
                         env={})
    with pytest.raises(InvalidRequestError, match="--oss-endpoint or OSS_ENDPOINT") as info:
        storage_from_url("oss://easel-bucket", Namespace(), default_root=tmp_path,
                         env={"OSS_ACCESS_KEY_ID": "a", "OSS_ACCESS_KEY_SECRET": "b"})
    assert info.value.field == "--oss-endpoint"


@pytest.mark.parametrize("endpoint, region", [("https://oss-cn-hangzhou.aliyuncs.com", "cn-hangzhou"),
                                              ("oss-ap-southeast-1-internal.aliyuncs.com", "ap-southeast-1"),
                                              ("http://127.0.0.1:9000", None), ("https://oss.example.com", None)])
def test_oss_region_from_the_endpoint(endpoint, region):
    assert region_from_endpoint(endpoint) == region
