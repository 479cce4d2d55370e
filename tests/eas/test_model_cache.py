"""The model RAM cache (--sd-dynamic-cache / --min-ram-reserved) in process, with real tiny checkpoints.

Only free RAM is simulated: each cached pipeline "uses" one GB, so the reserve decides deterministically.
"""
from __future__ import annotations

import pytest

from modules.cmd_args import parse_args
from modules.engine.devices import choose_precision
from modules.engine.model_manager import GIB, ModelManager
from modules.model_registry.checkpoints import CheckpointRegistry
from modules.model_registry.loader import load_pipeline
from modules.model_registry.vae import VaeRegistry
from modules.paths import DataPaths
from tests.support import make_data_dir

NAMES = ["a.safetensors", "b.safetensors", "c.safetensors"]


@pytest.fixture(scope="module")
def registries(tmp_path_factory):
    root = make_data_dir(tmp_path_factory.mktemp("cache"), {name: i for i, name in enumerate(NAMES)})
    paths = DataPaths.from_data_dir(str(root), None, None, None, None)
    checkpoints, vaes = CheckpointRegistry(paths), VaeRegistry(paths)
    checkpoints.refresh()
    vaes.refresh()
    return checkpoints, vaes, paths


def _manager(registries, *, dynamic: bool, reserve_gb: float, total_gb: float = 3.5):
    checkpoints, vaes, paths = registries
    disk_loads: list[str] = []

    def counting_load(info, **kwargs):
        disk_loads.append(info.name)
        return load_pipeline(info, **kwargs)

    manager = ModelManager(checkpoints, vaes, choose_precision(parse_args([])), paths.cache_dir,
                           load_fn=counting_load, dynamic_cache=dynamic, min_ram_reserved_gb=reserve_gb,
                           free_ram_fn=lambda: int(total_gb * GIB) - GIB * len(manager._cache))
    return manager, disk_loads


def _cached(manager) -> list[str]:
    return [m["title"].split(" ")[0] for m in manager.cache_state()["cached_models"]]


def test_lru_keeps_what_fits_and_evicts_the_least_recently_used(registries):
    manager, disk_loads = _manager(registries, dynamic=True, reserve_gb=1.0)
    for name in NAMES:
        manager.load(name)
    assert _cached(manager) == ["a.safetensors", "b.safetensors"]
    manager.load("a")  # from RAM: no disk load, c goes to the cache, b is now the least recently used
    assert disk_loads == NAMES and _cached(manager) == ["b.safetensors", "c.safetensors"]
    manager.load("c")
    assert manager.loaded.info.name == "c.safetensors"
    assert _cached(manager) == ["b.safetensors", "a.safetensors"] and disk_loads == NAMES


def test_eviction_by_reserve_makes_room_before_a_disk_load(registries):
    manager, disk_loads = _manager(registries, dynamic=True, reserve_gb=1.0, total_gb=2.5)
    manager.load("a")
    manager.load("b")
    assert _cached(manager) == ["a.safetensors"]
    manager.load("c")  # one cached model leaves 1.5 GB; a second would leave 0.5 GB < reserve: a is evicted
    assert _cached(manager) == ["b.safetensors"]
    manager.load("a")
    assert disk_loads == ["a.safetensors", "b.safetensors", "c.safetensors", "a.safetensors"]


def test_a_huge_reserve_means_one_model_at_a_time(registries):
    manager, disk_loads = _manager(registries, dynamic=True, reserve_gb=10_000)
    for name in ("a", "b", "a", "b"):
        manager.load(name)
    assert _cached(manager) == [] and len(disk_loads) == 4


def test_without_the_flag_nothing_is_cached(registries):
    manager, disk_loads = _manager(registries, dynamic=False, reserve_gb=0)
    for name in ("a", "b", "a"):
        manager.load(name)
    assert _cached(manager) == [] and len(disk_loads) == 3
    assert manager.cache_state()["dynamic_cache"] is False
