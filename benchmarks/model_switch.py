"""Checkpoint switch time: from the RAM cache (--sd-dynamic-cache) vs a load from disk.

Two full-size random-weight SD1.5 single-file checkpoints (fp16 safetensors, about 2 GB each) are written once to
--dir, then: a ModelManager without the cache switches A -> B -> A ... (every switch reads the file and builds the
pipeline), and one with the cache switches between them after both were loaded once. Prints the median times and
the ratio (goal: cached at least 10x faster and under 1 s). The file may sit in the OS page cache, which flatters
the disk numbers. Not a test: `python benchmarks/model_switch.py [--dir DIR] [--repeats N]`.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from common import ROOT, write_fullsize_sd15  # noqa: F401  (puts the repo on sys.path)

from modules.cmd_args import parse_args
from modules.engine.devices import choose_precision
from modules.engine.model_manager import ModelManager
from modules.model_registry.checkpoints import CheckpointRegistry
from modules.model_registry.vae import VaeRegistry
from modules.paths import DataPaths


def switch_times(manager: ModelManager, names: list[str], repeats: int) -> list[float]:
    """Seconds per switch, alternating between `names` (the first loads are not counted)."""
    for name in names:
        manager.load(name)
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        manager.load(names[i % len(names)])
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "easel-bench-switch")
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ckpt_dir = args.dir / "models" / "Stable-diffusion"
    for index, name in enumerate(("model-a.safetensors", "model-b.safetensors")):
        started = time.perf_counter()
        write_fullsize_sd15(ckpt_dir / name, seed=index)
        print(f"checkpoint {name}: {(ckpt_dir / name).stat().st_size / 1e9:.2f} GB "
              f"(ready in {time.perf_counter() - started:.1f}s)")
    paths = DataPaths.from_data_dir(str(args.dir), None, None, None, None)
    paths.ensure()
    checkpoints, vaes = CheckpointRegistry(paths, hash_on_scan=False), VaeRegistry(paths)
    checkpoints.refresh()
    vaes.refresh()
    precision = choose_precision(parse_args([]))
    names = ["model-a", "model-b"]
    disk = ModelManager(checkpoints, vaes, precision, paths.cache_dir)
    disk_times = switch_times(disk, names, args.repeats)
    disk.unload()
    del disk
    cached = ModelManager(checkpoints, vaes, precision, paths.cache_dir, dynamic_cache=True, min_ram_reserved_gb=0)
    cached_times = switch_times(cached, names, args.repeats * 2)
    disk_median, cached_median = statistics.median(disk_times), statistics.median(cached_times)
    print(f"device: {precision.label}")
    print(f"switch from disk:      median {disk_median:.3f}s  ({', '.join(f'{t:.2f}' for t in disk_times)})")
    print(f"switch from RAM cache: median {cached_median:.3f}s  ({', '.join(f'{t:.3f}' for t in cached_times)})")
    ratio = disk_median / cached_median if cached_median > 0 else float("inf")
    verdict = "OK" if ratio >= 10 and cached_median < 1 else "BELOW GOAL"
    print(f"ratio disk/cached: {ratio:.1f}x  (goal: >= 10x and cached < 1 s: {verdict})")


if __name__ == "__main__":
    main()
