"""Cold checkpoint load vs reading the same file's tensors with safetensors, side by side in one run.

For a full-size random-weight SD1.5 single file (fp16, 2.1 GB; and SDXL, 6.9 GB, when free RAM allows), each
measurement runs in a fresh process with the file's pages dropped from the OS page cache first
(posix_fadvise DONTNEED, so it is read from the disk), alternating:

- read:   `safetensors.torch.load_file(path)` and every tensor copied into process memory (the tensors in RAM),
          with one intra-op thread (two measured 2-4x slower on this busy 2-core machine);
- previous: the loader before this one (eager read, diffusers' converters, `.to(float32)`), for comparison;
- easel:  `load_pipeline` of the same file into a complete pipeline on the CPU, float32 (the CPU default);
- bf16:   the same with `--precision bf16`'s component dtypes (UNet bf16, VAE and text encoder per the flag);
- cached: the same float32 load from the converted cache (--converted-cache-gb), its entry dropped from the
          page cache too.

Imports are done before the clock starts in every case. Prints the medians, the ratio easel / read (goal
<= 1.5) and each load's peak RSS over the model's size in RAM (goal < 1.3). `--warm` adds the same with the
page cache warm. Not a test:

    venv/bin/python benchmarks/model_load.py [--dir DIR] [--repeats N] [--sdxl auto|yes|no] [--warm]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from common import ROOT, write_fullsize_random, write_fullsize_sd15

GIB = 1024 ** 3
THREADS = 2


def drop_page_cache(path: Path) -> None:
    """Evict `path`'s clean pages from the OS page cache (no root needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _rss() -> int:
    return psutil.Process().memory_info().rss


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(mode: str, path: Path, cache_dir: Path, precision: str) -> dict:
    """One measurement in this (fresh) process; returns seconds, RSS before and peak."""
    import torch

    torch.set_num_threads(THREADS)
    if mode == "read":
        from safetensors.torch import load_file

        torch.set_num_threads(1)  # the copies are memory-bound: one thread measured fastest (and Easel's load uses one)

        before = _rss()
        started = time.perf_counter()
        tensors = {k: v.clone() for k, v in load_file(str(path)).items()}
        seconds = time.perf_counter() - started
        size = sum(t.numel() * t.element_size() for t in tensors.values())
        return {"seconds": seconds, "rss_before": before, "peak": _peak_rss(), "bytes": size}
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline  # noqa: F401  (imports off the clock)

    if mode == "previous":
        return previous_path(path)

    from modules.model_registry.manager import pipeline_bytes

    from modules.cmd_args import parse_args
    from modules.engine.devices import choose_precision
    from modules.model_registry.checkpoints import CheckpointInfo
    from modules.model_registry.converted_cache import ConvertedCache
    from modules.model_registry.loader import load_pipeline

    flags = ["--use-cpu", "all"] + (["--precision", precision] if precision else [])
    dtypes = choose_precision(parse_args(flags)).component_dtypes()
    cache = ConvertedCache(cache_dir / "converted", 64 * GIB, cache_dir / "hashes.json") if mode == "cached" else None
    info = CheckpointInfo(filename=path, name=path.name, model_name=path.stem)
    before = _rss()
    started = time.perf_counter()
    loaded = load_pipeline(info, device=torch.device("cpu"), dtype=torch.float32, cache_dir=cache_dir, dtypes=dtypes,
                           converted_cache=cache)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rss_before": before, "peak": _peak_rss(), "bytes": pipeline_bytes(loaded.pipe),
            "converted_cache": loaded.extra.get("converted_cache")}


def previous_path(path: Path) -> dict:
    """The loader before the lazy one, minus tokenizer and pipeline assembly (so slightly flattered): every
    tensor read by load_file, diffusers' converters, modules on the meta device, `.to(float32)` per tensor."""
    import torch
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
    from safetensors.torch import load_file

    from modules.model_registry import components as comp
    from modules.model_registry.converted import convert_single_file, prepare
    from modules.model_registry.family import SD1_CLIP, SDXL_CLIP, SDXL_OPENCLIP
    from modules.model_registry.safe_load import open_checkpoint

    raw = open_checkpoint(path)  # configs only (the previous path inferred the same ones)
    modules, prepared = prepare(convert_single_file(raw))
    raw.source.close()
    before = _rss()
    started = time.perf_counter()
    state = load_file(str(path))
    converted = {"unet": convert_ldm_unet_checkpoint(state, prepared.configs["unet"]),
                 "vae": convert_ldm_vae_checkpoint(comp.vae_subset(state), prepared.configs["vae"])}
    if "text_encoder_2" in modules:
        converted["text_encoder"] = comp.convert_clip(state, SDXL_CLIP)
        converted["text_encoder_2"] = comp.convert_openclip(state, SDXL_OPENCLIP)
    else:
        converted["text_encoder"] = comp.convert_clip(state, SD1_CLIP)
    for name, module in modules.items():
        own = comp.text_encoder_keys(module, converted[name]) if name.startswith("text") else converted[name]
        tensors = {k: (own[k].to(torch.float32) if own[k].is_floating_point() else own[k]).contiguous()
                   for k in module.state_dict()}
        comp.assign(module, tensors, name)
    seconds = time.perf_counter() - started
    size = sum(t.numel() * t.element_size() for m in modules.values() for t in m.state_dict().values())
    return {"seconds": seconds, "rss_before": before, "peak": _peak_rss(), "bytes": size}


def run_worker(mode: str, path: Path, cache_dir: Path, precision: str = "") -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, "--file", str(path), "--cache-dir", str(cache_dir),
           "--precision", precision]
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(label: str, path: Path, cache_dir: Path, repeats: int, warm: bool) -> None:
    run_worker("easel", path, cache_dir)  # tokenizer files into the cache dir, as in a running server
    run_worker("cached", path, cache_dir)  # writes the converted-cache entry (a miss)
    entry = next((cache_dir / "converted").glob("*.safetensors"))
    cases = [("read", "", path), ("previous", "", path), ("easel", "", path), ("bf16", "bf16", path),
             ("cached", "", entry)]
    for temperature in (["cold", "warm"] if warm else ["cold"]):
        results: dict[str, list[dict]] = {name: [] for name, _, _ in cases}
        for _ in range(repeats):
            for name, precision, dropped in cases:
                if temperature == "cold":
                    drop_page_cache(dropped)
                mode = name if name in ("read", "previous", "cached") else "easel"
                result = run_worker(mode, path, cache_dir, precision)
                if name == "cached" and result["converted_cache"] != "hit":
                    raise SystemExit(f"converted cache not used: {result}")
                results[name].append(result)
        read = statistics.median(r["seconds"] for r in results["read"])
        print(f"\n{label}, {temperature} page cache, median of {repeats} (each in a fresh process, {THREADS} threads)")
        print(f"  {'case':8s} {'seconds':>8s} {'/read':>6s} {'peak RSS':>9s} {'load delta':>10s} {'in RAM':>7s} "
              f"{'peak/size':>9s}  runs")
        for name, _, _ in cases:
            rows = results[name]
            seconds = statistics.median(r["seconds"] for r in rows)
            peak = statistics.median(r["peak"] for r in rows)
            delta = statistics.median(r["peak"] - r["rss_before"] for r in rows)
            size = rows[0]["bytes"]
            print(f"  {name:8s} {seconds:8.2f} {seconds / read:6.2f} {peak / GIB:8.2f}G {delta / GIB:9.2f}G "
                  f"{size / GIB:6.2f}G {delta / size:9.2f}  {', '.join(format(r['seconds'], '.2f') for r in rows)}")
        easel = statistics.median(r["seconds"] for r in results["easel"])
        verdict = "OK" if easel / read <= 1.5 else "ABOVE GOAL"
        print(f"  ratio easel/read = {easel / read:.2f} (goal <= 1.5: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "easel-bench-load")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sdxl", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument("--warm", action="store_true", help="also measure with the page cache warm")
    parser.add_argument("--worker", choices=["read", "previous", "easel", "cached"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.file, args.cache_dir, args.precision)))
        return
    import torch

    torch.set_num_threads(THREADS)
    print(f"CPU: {psutil.cpu_count(logical=False)} cores, RAM {psutil.virtual_memory().total / GIB:.1f} GiB, "
          f"free {psutil.virtual_memory().available / GIB:.1f} GiB; torch {torch.__version__}")
    sd15 = args.dir / "sd15.safetensors"
    started = time.perf_counter()
    write_fullsize_sd15(sd15)
    print(f"SD1.5 file: {sd15.stat().st_size / GIB:.2f} GiB (ready in {time.perf_counter() - started:.0f}s)")
    bench("SD1.5 (full size, fp16 file)", sd15, args.dir / "cache-sd15", args.repeats, args.warm)
    sdxl = args.dir / "sdxl.safetensors"
    # float32 SDXL is 13 GiB in RAM; the generator needs the 6.5 GiB file in RAM once
    needed = 15 * GIB
    free = psutil.virtual_memory().available
    if args.sdxl == "no" or (args.sdxl == "auto" and free < needed):
        print(f"\nSDXL skipped ({'--sdxl no' if args.sdxl == 'no' else f'free RAM {free / GIB:.1f} GiB < 15 GiB'})")
        return
    started = time.perf_counter()
    write_fullsize_random(sdxl, "sdxl")
    print(f"\nSDXL file: {sdxl.stat().st_size / GIB:.2f} GiB (ready in {time.perf_counter() - started:.0f}s)")
    bench("SDXL (full size, fp16 file)", sdxl, args.dir / "cache-sdxl", args.repeats, args.warm)


if __name__ == "__main__":
    main()
