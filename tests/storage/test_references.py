"""oss:// and s3:// input references: read through the configured store, confined to its bucket and
prefix unless external references are allowed; size cap as for uploads."""
from __future__ import annotations

import pytest

from modules.errors import ForbiddenPathError, InvalidRequestError, NotFoundError
from modules.storage.references import ReferenceReader, is_reference
from tests.storage.conftest import BUCKET, oss_storage, s3_storage


def test_is_reference():
    assert is_reference("oss://b/k.png") and is_reference("S3://b/k.png")
    assert not is_reference("iVBORw0KGgo=") and not is_reference("https://x/y.png") and not is_reference(None)


def test_references_inside_the_store_are_read(storage):
    storage.write("inputs/job/init.png", b"init bytes")
    reader = ReferenceReader(storage)
    assert reader.read("inputs/job/init.png", field="init_images", max_bytes=100) == b"init bytes"
    if storage.scheme != "file":
        full = storage.reference("inputs/job/init.png")
        assert full.startswith(f"{storage.scheme}://{BUCKET}/")
        assert reader.read(full, field="init_images", max_bytes=100) == b"init bytes"
    with pytest.raises(InvalidRequestError) as info:
        reader.read("inputs/job/init.png", field="mask", max_bytes=5)
    assert info.value.field == "mask"
    with pytest.raises(NotFoundError):
        reader.read("inputs/job/none.png", field="mask", max_bytes=5)


@pytest.mark.parametrize("ref", ["oss://other-bucket/x.png", "s3://other-bucket/x.png", "../up.png",
                                 "http://example.com/x.png"])
def test_references_outside_are_refused_naming_the_field(storage, ref):
    with pytest.raises((ForbiddenPathError, InvalidRequestError)) as info:
        ReferenceReader(storage).read(ref, field="image", max_bytes=10)
    assert info.value.field == "image" and "image" in info.value.message


def test_a_reference_to_another_prefix_of_the_bucket_is_refused(moto_s3, presign_gate):
    mine, theirs = s3_storage(moto_s3, "mine"), s3_storage(moto_s3, "theirs")
    theirs.write("secret.png", b"not yours")
    with pytest.raises(ForbiddenPathError, match="--storage-allow-external-refs"):
        ReferenceReader(mine).read(f"s3://{BUCKET}/theirs/secret.png", field="init_images", max_bytes=100)
    # "mine" must not match "mine-other/..." either
    with pytest.raises(ForbiddenPathError):
        ReferenceReader(mine).read(f"s3://{BUCKET}/mine-other/x.png", field="init_images", max_bytes=100)


def test_external_references_when_allowed(fake_oss, tmp_path):
    mine = oss_storage(fake_oss, "mine", tmp=tmp_path)
    elsewhere = oss_storage(fake_oss, "", tmp=tmp_path)
    elsewhere.write("shared/ref.png", b"shared")
    built = []

    def external(scheme, bucket):
        built.append((scheme, bucket))
        return elsewhere
    reader = ReferenceReader(mine, allow_external=True, external=external)
    ref = f"oss://{BUCKET}/shared/ref.png"
    assert reader.read(ref, field="image", max_bytes=10) == b"shared"
    assert reader.read(ref, field="image", max_bytes=10) == b"shared"
    assert built == [("oss", BUCKET)]  # one store per bucket, reused
