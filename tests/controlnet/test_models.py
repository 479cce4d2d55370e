"""ControlNet files: names and hashes as the extension shows them, lookups, families read from the keys, the
shipped configs (full-size shapes map to them exactly), every file layout, and the loaded-model cache rules."""
from __future__ import annotations

import hashlib
import json

import pytest
import torch
from lib_controlnet import loader, models, tiny

from modules.errors import ModelLoadError, ModelNotFoundError

CPU = torch.device("cpu")


def test_legacy_hash_is_a1111s_model_hash(tmp_path):
    path = tmp_path / "control_x.pth"
    data = bytes(range(256)) * 8192  # 2 MiB
    path.write_bytes(data)
    assert models.legacy_hash(path) == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]


def test_scan_names_and_lookups(tmp_path):
    a = tiny.write_tiny_controlnet(tmp_path / "control_v11p_sd15_canny.safetensors", seed=1)
    tiny.write_tiny_controlnet(tmp_path / "deep" / "control_v11p_sd15_canny_anime.pth", seed=2)
    tiny.write_tiny_controlnet(tmp_path / "None.pth", seed=3)  # never listed: "None" means no model
    tiny.write_tiny_controlnet(tmp_path / "annotator" / "x" / "control_fake.pth", seed=4)
    registry = models.ModelRegistry(lambda: [tmp_path])
    titles = registry.titles()
    assert len(titles) == 2 and all(" [" in t for t in titles)
    entry = registry.find("control_v11p_sd15_canny")
    assert entry.path == a.resolve() and entry.title == f"control_v11p_sd15_canny [{models.legacy_hash(a)}]"
    for name in (entry.title, "CONTROL_V11P_SD15_CANNY", "control_v11p_sd15_canny.safetensors", entry.hash,
                 "control_v11p_sd15_canny [00000000]"):
        assert registry.find(name) == entry, name
    assert registry.find("canny_anime").stem == "control_v11p_sd15_canny_anime"  # the closest (shortest) match
    assert registry.find("sd15_canny") == entry
    assert registry.find("None") is None
    with pytest.raises(ModelNotFoundError) as info:
        registry.get("control_nope", field="alwayson_scripts.controlnet.args[0].model")
    assert info.value.field == "alwayson_scripts.controlnet.args[0].model" and "installed:" in info.value.message


def test_family_from_name_as_the_extension_guesses():
    assert models.family_from_name("control_v11p_sd15_canny [d14c016b]") == "sd1"
    assert models.family_from_name("controlnet_sd21_canny") == "sd2"
    assert models.family_from_name("diffusers_xl_canny_mid") == "sdxl"
    assert models.family_from_name("t2i_something") is None


@pytest.mark.parametrize("family, folder", [("sd1", "sd15"), ("sd2", "sd21"), ("sdxl", "sdxl")])
def test_full_size_shapes_give_exactly_the_shipped_config(family, folder):
    from accelerate import init_empty_weights
    from diffusers import ControlNetModel

    shipped = json.loads((loader.CONFIGS / folder / "config.json").read_text(encoding="utf-8"))
    with init_empty_weights():
        model = ControlNetModel.from_config(shipped)
    state = model.state_dict()
    if family == "sd1":
        assert sum(t.numel() for t in state.values()) == 361_279_120 and len(state) == 340  # control_v11p_sd15_*
    ldm = {k[len(tiny.PREFIX):]: v for k, v in tiny.controlnet_to_ldm(state, shipped).items()}
    assert loader.detect_family(ldm) == family
    converted = loader.to_diffusers(ldm, {**shipped, "layers_per_block": loader._layers(ldm)})
    assert set(converted) == set(state)
    assert loader.derive_config(converted, family, {}) == shipped
    assert loader.config_dir(shipped, family, "/nonexistent") == loader.CONFIGS / folder


def test_tiny_shapes_get_a_derived_config_folder(tmp_path):
    path = tiny.write_tiny_controlnet(tmp_path / "control_tiny.safetensors")
    entry = models.scan(tmp_path)[0]
    loaded = loader.load(entry, device=CPU, dtype=torch.float32, cache_dir=tmp_path / "cache")
    folders = list((tmp_path / "cache" / "controlnet-configs").iterdir())
    assert len(folders) == 1 and json.loads((folders[0] / "config.json").read_text())["block_out_channels"] == [32, 64]
    reference = tiny.build_tiny_controlnet("sd1", 0).state_dict()
    assert all(torch.equal(reference[k], v) for k, v in loaded.model.state_dict().items())
    assert path.exists()


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
@pytest.mark.parametrize("suffix, prefix, layout", [(".safetensors", "control_model.", "ldm"), (".pth", "", "ldm"),
                                                    (".safetensors", "", "diffusers"), ("", "", "folder")])
def test_every_layout_loads_exactly(tmp_path, family, suffix, prefix, layout):
    tiny.write_tiny_controlnet(tmp_path / f"control_tiny{suffix}", family=family, seed=3, prefix=prefix, layout=layout)
    entry = models.scan(tmp_path)[0]
    loaded = loader.load(entry, device=CPU, dtype=torch.float32, cache_dir=tmp_path / "cache")
    assert loaded.family == family
    reference = tiny.build_tiny_controlnet(family, 3).state_dict()
    state = loaded.model.state_dict()
    assert set(state) == set(reference) and all(torch.equal(reference[k], state[k]) for k in reference)


def test_files_that_are_not_controlnets_are_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"adapter.body.0.weight": torch.zeros(2, 2)}, str(tmp_path / "t2iadapter_canny.safetensors"))
    with pytest.raises(ModelLoadError) as info:
        loader.load(models.scan(tmp_path)[0], device=CPU, dtype=torch.float32, cache_dir=tmp_path)
    assert "not a ControlNet" in info.value.message and info.value.status_code == 422


def test_the_cache_keeps_the_recent_models_within_its_size_and_the_ram_reserve(tmp_path):
    for i in range(3):
        tiny.write_tiny_controlnet(tmp_path / f"control_{i}.safetensors", seed=i)
    entries = models.scan(tmp_path)
    size, free = [2], [10 ** 12]
    cache = loader.ControlNetCache(size_fn=lambda: size[0], reserve_bytes_fn=lambda: 10 ** 9,
                                   free_ram_fn=lambda: free[0])

    def get(i):
        return cache.get(entries[i], device=CPU, dtype=torch.float32, cache_dir=tmp_path / "cache")

    first = get(0)
    assert get(0) is first  # cached
    get(1)
    get(2)  # the cache holds two: the least recently used (0) goes
    assert [t.split(" [")[0] for t in cache.titles()] == ["control_1", "control_2"]
    free[0] = 10 ** 9  # under the reserve once the new file is counted: evict before loading
    get(0)
    assert [t.split(" [")[0] for t in cache.titles()] == ["control_0"]
    size[0] = 0
    free[0] = 10 ** 12
    assert get(1) is not get(1)  # a cache size of 0 keeps nothing
