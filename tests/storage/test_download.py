"""Model downloads from a store: verified against ETag and SHA-256, atomic, a no-op when unchanged."""
from __future__ import annotations

import hashlib
import os

import pytest

from modules.errors import InvalidRequestError
from modules.storage.download import download_object, sidecar_path


def test_download_verifies_and_reuses(storage, tmp_path):
    data = os.urandom(300_000)
    storage.write("models/Lora/style.safetensors", data)
    sha = hashlib.sha256(data).hexdigest()
    dest = tmp_path / "cache" / "style.safetensors"
    etag = storage.stat("models/Lora/style.safetensors").etag
    first = download_object(storage, "models/Lora/style.safetensors", dest, expected_etag=etag,
                            expected_sha256=sha, progress=False)
    assert dest.read_bytes() == data and (first.sha256, first.size, first.reused) == (sha, len(data), False)
    if storage.scheme == "file":
        return  # local files have no ETag: nothing to compare, so every call copies
    again = download_object(storage, "models/Lora/style.safetensors", dest, expected_etag=etag, progress=False)
    assert again.reused and again.sha256 == sha
    storage.write("models/Lora/style.safetensors", data[::-1])  # changed in the store: new ETag
    changed = download_object(storage, "models/Lora/style.safetensors", dest, progress=False)
    assert not changed.reused and dest.read_bytes() == data[::-1]
    with pytest.raises(InvalidRequestError) as info:
        download_object(storage, "models/Lora/style.safetensors", dest, expected_etag=etag, progress=False)
    assert info.value.field == "etag"


def test_a_wrong_sha256_leaves_no_file(storage, tmp_path):
    storage.write("models/x.safetensors", b"weights")
    dest = tmp_path / "cache" / "x.safetensors"
    with pytest.raises(InvalidRequestError) as info:
        download_object(storage, "models/x.safetensors", dest, expected_sha256="0" * 64, progress=False)
    assert info.value.field == "sha256"
    assert not dest.exists() and not sidecar_path(dest).exists()
    assert list(dest.parent.iterdir()) == []  # no partial download left behind
