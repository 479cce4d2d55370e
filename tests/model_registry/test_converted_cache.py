"""The converted-model cache (--converted-cache-gb): used on the second load, replaced when the file changes,
bounded, and the entries are ordinary .safetensors files."""
from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import load_file

from modules.model_registry.checkpoints import CheckpointInfo
from modules.model_registry.converted_cache import ConvertedCache, write_safetensors
from modules.model_registry.loader import load_pipeline
from modules.model_registry.tensor_file import open_safetensors
from modules.model_registry.tiny import build_tiny_components, write_tiny_checkpoint

CPU = torch.device("cpu")
GIB = 1024 ** 3


def _info(path) -> CheckpointInfo:
    return CheckpointInfo(filename=path, name=path.name, model_name=path.stem)


def _load(path, cache, token_cache, dtype=torch.float32):
    return load_pipeline(_info(path), device=CPU, dtype=dtype, cache_dir=token_cache, converted_cache=cache)


def _assert_weights(pipe, family: str, seed: int) -> None:
    for name, module in build_tiny_components(family, seed).items():
        got, want = getattr(pipe, name).state_dict(), module.state_dict()
        assert set(got) == set(want), name
        assert all(torch.equal(got[k], want[k].to(got[k].dtype)) for k in want), name


@pytest.fixture()
def cache(tmp_path):
    return ConvertedCache(tmp_path / "cache" / "converted", GIB, tmp_path / "cache" / "hashes.json")


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_second_load_reads_the_converted_entry(tmp_path, token_cache, cache, family):
    path = write_tiny_checkpoint(tmp_path / f"{family}.safetensors", family=family, seed=5)
    first = _load(path, cache, token_cache)
    assert first.extra["converted_cache"] == "miss"
    assert len(cache.entries()) == 1
    second = _load(path, cache, token_cache)
    assert second.extra["converted_cache"] == "hit" and second.extra["mapped"] is True
    assert (second.family, second.prediction_type) == (first.family, first.prediction_type)
    assert type(second.pipe) is type(first.pipe)
    _assert_weights(second.pipe, family, 5)
    third = _load(path, cache, token_cache, dtype=torch.bfloat16)  # other dtypes: cast once from the entry
    assert third.extra["converted_cache"] == "hit" and third.extra["mapped"] is False
    assert third.pipe.unet.dtype == torch.bfloat16 and len(cache.entries()) == 1
    _assert_weights(third.pipe, family, 5)


def test_writes_to_mapped_weights_never_reach_the_entry(tmp_path, token_cache, cache):
    path = write_tiny_checkpoint(tmp_path / "m.safetensors", family="sd1", seed=6)
    _load(path, cache, token_cache)
    entry_bytes = cache.entries()[0].read_bytes()
    mapped = _load(path, cache, token_cache)
    assert mapped.extra["mapped"] is True
    with torch.no_grad():  # what a LoRA patch or a VAE swap does
        for module in (mapped.pipe.unet, mapped.pipe.vae, mapped.pipe.text_encoder):
            for param in module.parameters():
                param.add_(1.0)
    assert cache.entries()[0].read_bytes() == entry_bytes
    _assert_weights(_load(path, cache, token_cache).pipe, "sd1", 6)


def test_a_ckpt_file_is_cached_too(tiny_files, token_cache, cache):
    assert _load(tiny_files["sd1_ckpt"], cache, token_cache).extra["converted_cache"] == "miss"
    second = _load(tiny_files["sd1_ckpt"], cache, token_cache)
    assert second.extra["converted_cache"] == "hit"
    _assert_weights(second.pipe, "sd1", 7)


def test_a_changed_file_invalidates_its_entry(tmp_path, token_cache, cache):
    path = write_tiny_checkpoint(tmp_path / "m.safetensors", family="sd1", seed=1)
    _load(path, cache, token_cache)
    old_entries = cache.entries()
    write_tiny_checkpoint(path, family="sd1", seed=2)  # same size, new contents
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = _load(path, cache, token_cache)
    assert changed.extra["converted_cache"] == "miss"
    _assert_weights(changed.pipe, "sd1", 2)
    assert len(cache.entries()) == 1 and cache.entries() != old_entries  # the old entry is gone
    again = _load(path, cache, token_cache)
    assert again.extra["converted_cache"] == "hit"
    _assert_weights(again.pipe, "sd1", 2)


def test_a_yaml_beside_the_file_still_decides_the_prediction_type(tmp_path, token_cache, cache):
    path = write_tiny_checkpoint(tmp_path / "m.safetensors", family="sd1", seed=0)
    _load(path, cache, token_cache)
    yaml = tmp_path / "m.yaml"
    yaml.write_text('model:\n  params:\n    parameterization: "v"\n')
    info = CheckpointInfo(filename=path, name=path.name, model_name="m", config=yaml)
    loaded = load_pipeline(info, device=CPU, dtype=torch.float32, cache_dir=token_cache, converted_cache=cache)
    assert loaded.extra["converted_cache"] == "hit" and loaded.prediction_type == "v_prediction"


def test_the_cache_is_bounded_least_recently_used_first(tmp_path, token_cache):
    a = write_tiny_checkpoint(tmp_path / "a.safetensors", family="sd1", seed=1)
    b = write_tiny_checkpoint(tmp_path / "b.safetensors", family="sd1", seed=2)
    c = write_tiny_checkpoint(tmp_path / "c.safetensors", family="sd1", seed=3)
    size = a.stat().st_size
    cache = ConvertedCache(tmp_path / "conv", int(size * 2.5), tmp_path / "hashes.json")
    for path in (a, b):
        _load(path, cache, token_cache)
    assert _load(a, cache, token_cache).extra["converted_cache"] == "hit"  # a is now the most recently used
    _load(c, cache, token_cache)  # evicts b
    assert len(cache.entries()) == 2
    assert _load(a, cache, token_cache).extra["converted_cache"] == "hit"
    assert _load(c, cache, token_cache).extra["converted_cache"] == "hit"
    assert _load(b, cache, token_cache).extra["converted_cache"] == "miss"
    tiny = ConvertedCache(tmp_path / "small", size // 4, tmp_path / "hashes.json")
    assert _load(a, tiny, token_cache).extra["converted_cache"] == "miss" and tiny.entries() == []


def test_from_gb_zero_is_off(tmp_path):
    assert ConvertedCache.from_gb(tmp_path, 0, tmp_path / "h.json") is None
    on = ConvertedCache.from_gb(tmp_path, 1.5, tmp_path / "h.json")
    assert on.root == tmp_path / "converted" and on.max_bytes == int(1.5 * GIB)


def test_written_entries_are_standard_safetensors(tmp_path):
    src = tmp_path / "src.safetensors"
    from safetensors.torch import save_file

    tensors = {"h": torch.randn(4, 3).half(), "f": torch.randn(5), "i": torch.arange(3), "e": torch.zeros(0, 2)}
    save_file(tensors, str(src))
    with open_safetensors(src) as source:
        views = dict(source.tensors)
        views["hT"] = views["h"].T  # not a view of the file: written from memory
        out = tmp_path / "out.safetensors"
        write_safetensors(out, views, {"k": "v"}, source)
    back = load_file(str(out))
    assert set(back) == {"h", "f", "i", "e", "hT"}
    for key, value in tensors.items():
        assert back[key].dtype == value.dtype and torch.equal(back[key], value)
    assert torch.equal(back["hT"], tensors["h"].T)
    assert open_safetensors(out).metadata == {"k": "v"}
