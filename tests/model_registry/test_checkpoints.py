from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from modules.errors import ModelNotFoundError
from modules.model_registry.checkpoints import CheckpointRegistry
from modules.model_registry.hashes import sha256_file, shorthash
from modules.paths import DataPaths


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture()
def registry(tmp_path):
    paths = DataPaths.from_data_dir(tmp_path / "data", ckpt_dir=tmp_path / "extra")
    ckpt = paths.ckpt_dir
    _write(ckpt / "zeta.safetensors", b"zeta")
    _write(ckpt / "sub" / "model.safetensors", b"model-bytes")
    _write(ckpt / "sub" / "model.yaml", b"model: {}")
    _write(ckpt / "Alpha.ckpt", b"alpha")
    _write(ckpt / "notes.txt", b"ignored")
    _write(ckpt / "weights.pt", b"ignored: A1111 lists .ckpt and .safetensors only")
    _write(ckpt / "diffusers-model" / "model_index.json", b"{}")
    _write(ckpt / "diffusers-model" / "unet" / "diffusion_pytorch_model.safetensors", b"inner")
    _write(tmp_path / "extra" / "other.safetensors", b"other")
    reg = CheckpointRegistry(paths)
    reg.refresh()
    return reg


def test_scan_names_titles_order(registry):
    infos = registry.list()
    assert [i.name for i in infos] == ["Alpha.ckpt", "diffusers-model", "other.safetensors",
                                        "sub/model.safetensors", "zeta.safetensors"]
    model = registry.get("sub/model.safetensors")
    sha = hashlib.sha256(b"model-bytes").hexdigest()
    assert model.sha256 == sha and model.shorthash == sha[:10]
    assert model.title == f"sub/model.safetensors [{sha[:10]}]"
    assert model.model_name == "sub/model"
    assert model.filename.is_absolute() and model.filename.name == "model.safetensors"
    assert model.config is not None and model.config.name == "model.yaml"
    assert not model.is_diffusers_dir
    folder = registry.get("diffusers-model")
    assert folder.is_diffusers_dir and folder.sha256 is None and folder.title == "diffusers-model"
    assert registry.first().name == "Alpha.ckpt"


@pytest.mark.parametrize("alias_of", ["title", "name", "basename", "model_name", "stem", "short", "sha"])
def test_every_alias_form(registry, alias_of):
    info = registry.get("sub/model.safetensors")
    alias = {"title": info.title, "name": info.name, "basename": "model.safetensors", "model_name": "sub/model",
             "stem": "model", "short": info.shorthash, "sha": info.sha256}[alias_of]
    assert registry.get(alias) is info


def test_unknown_checkpoint_lists_close_matches(registry):
    with pytest.raises(ModelNotFoundError) as err:
        registry.get("zeta.safetensor", field="override_settings.sd_model_checkpoint")
    assert err.value.field == "override_settings.sd_model_checkpoint"
    assert "zeta.safetensors" in err.value.message and "Did you mean" in err.value.message
    with pytest.raises(ModelNotFoundError) as err:
        registry.get("nothing-like-it")
    assert err.value.field == "sd_model_checkpoint"


def test_empty_registry(tmp_path):
    reg = CheckpointRegistry(DataPaths.from_data_dir(tmp_path))
    assert reg.refresh() == [] and reg.first() is None
    with pytest.raises(ModelNotFoundError, match="No checkpoints"):
        reg.get("x")


def test_sha_cache_reused_and_invalidated(tmp_path):
    cache = tmp_path / "cache" / "hashes.json"
    f = _write(tmp_path / "m.safetensors", b"one")
    first = sha256_file(f, cache)
    assert first == hashlib.sha256(b"one").hexdigest() and shorthash(first) == first[:10]
    entry = json.loads(cache.read_text())[str(f.resolve())]
    # Poison the cached value: an unchanged file (same mtime and size) must be answered from the cache.
    entry["sha256"] = "f" * 64
    cache.write_text(json.dumps({str(f.resolve()): entry}))
    assert sha256_file(f, cache) == "f" * 64
    # Same size, new mtime -> recomputed.
    f.write_bytes(b"two")
    os.utime(f, (entry["mtime"] + 10, entry["mtime"] + 10))
    assert sha256_file(f, cache) == hashlib.sha256(b"two").hexdigest()
    # Different size -> recomputed.
    f.write_bytes(b"three!")
    assert sha256_file(f, cache) == hashlib.sha256(b"three!").hexdigest()


def test_corrupt_cache_is_rebuilt(tmp_path):
    cache = _write(tmp_path / "hashes.json", b"{not json")
    f = _write(tmp_path / "m.ckpt", b"x")
    assert sha256_file(f, cache) == hashlib.sha256(b"x").hexdigest()
    assert str(f.resolve()) in json.loads(cache.read_text())


def test_sha_cache_is_thread_safe(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    cache = tmp_path / "hashes.json"
    files = [_write(tmp_path / f"m{i}.safetensors", bytes([i]) * (i + 1)) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda f: sha256_file(f, cache), files))
    assert results == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    assert set(json.loads(cache.read_text())) == {str(f.resolve()) for f in files}
