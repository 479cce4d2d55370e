"""GPU throughput: UNet iterations per second, eager vs --compile, and the fraction of the GPU's bf16/fp16 peak.

Runs only where CUDA is present (it exits with a message elsewhere). For SD1.5 at 512x512 and SDXL at 1024x1024,
20 steps, batch 1 and 4: the pipeline is loaded by Easel's loader in fp16 from a full-size random-weight single
file (written once to --dir), Easel's per-device settings are applied (channels_last; with --compile also fused
QKV and torch.compile, mode per --compile-mode, CUDA graphs in max-autotune), then 20 CFG UNet calls (batch 2 x
the batch size, as the sampling loop makes them) are timed after the warm-up; it/s = steps per second.
The fraction of peak uses ~1.61 TFLOP per CFG step for SD1.5 at 512 and ~13.5 for SDXL at 1024 (batch 1;
times the batch size), over the GPU's dense fp16/bf16 peak (table below, or --peak-tflops).
Goals (H100 class, batch 1): SD1.5 >= 90 it/s, SDXL >= 18 it/s. Not a test:

    venv/bin/python benchmarks/gpu.py [--dir DIR] [--models sd15,sdxl] [--batches 1,4] [--xformers]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import write_fullsize_random, write_fullsize_sd15

TFLOP_PER_STEP = {"sd15": 1.61, "sdxl": 13.5}  # one CFG UNet call at batch 1
SIZES = {"sd15": 512, "sdxl": 1024}
GOALS = {"sd15": 90.0, "sdxl": 18.0}  # it/s at batch 1 on an H100-class GPU
PEAK_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0, "H100": 756.0,
               "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "RTX 4090": 165.0, "RTX 3090": 71.0}


def peak_for(name: str) -> float | None:
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):
        if key in name:
            return PEAK_TFLOPS[key]
    return None


def load(model: str, workdir: Path, compile_on: bool, mode: str, xformers: bool):
    from modules.cmd_args import parse_args
    from modules.engine.devices import choose_precision, configure_attention
    from modules.engine.optimize import OptimizeSettings, PipelineOptimizer
    from modules.model_registry.checkpoints import CheckpointInfo
    from modules.model_registry.loader import load_pipeline

    path = (write_fullsize_sd15(workdir / "sd15.safetensors") if model == "sd15"
            else write_fullsize_random(workdir / "sdxl.safetensors", "sdxl"))
    flags = ["--compile-mode", mode] + (["--compile"] if compile_on else []) + (["--xformers"] if xformers else [])
    opts = parse_args(flags)
    precision = choose_precision(opts)
    info = CheckpointInfo(filename=path, name=path.name, model_name=path.stem)
    loaded = load_pipeline(info, device=precision.device, dtype=precision.unet_dtype, cache_dir=workdir / "cache",
                           dtypes=precision.component_dtypes())
    configure_attention(loaded.pipe, xformers, precision.device)
    optimizer = PipelineOptimizer(OptimizeSettings.from_cmd_opts(opts), precision)
    optimizer.apply(loaded.pipe, loaded.family)
    return loaded, optimizer


def measure(loaded, batch: int, steps: int) -> tuple[float, float]:
    """(it/s, first-call seconds) for `steps` CFG UNet calls at `batch`."""
    from modules.engine.compile import _unet_inputs

    size = SIZES["sdxl" if loaded.family == "sdxl" else "sd15"]
    args, kwargs = _unet_inputs(loaded.pipe, loaded.family, size, size, 2 * batch)
    unet = loaded.pipe.unet
    with torch.no_grad():
        started = time.perf_counter()
        unet(*args, **kwargs)
        torch.cuda.synchronize()
        first = time.perf_counter() - started
        for _ in range(3):
            unet(*args, **kwargs)
        runs = []
        for _ in range(3):
            torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(steps):
                unet(*args, **kwargs)
            torch.cuda.synchronize()
            runs.append(steps / (time.perf_counter() - started))
    return statistics.median(runs), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "easel-bench-gpu")
    parser.add_argument("--models", default="sd15,sdxl")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--compile-mode", default="auto")
    parser.add_argument("--xformers", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("benchmarks/gpu.py needs a CUDA device; none is present here (nothing measured).")
        sys.exit(0)
    name = torch.cuda.get_device_name(0)
    peak = args.peak_tflops or peak_for(name)
    print(f"GPU: {name}, peak fp16/bf16 dense {peak or '?'} TFLOPS; torch {torch.__version__}")
    args.dir.mkdir(parents=True, exist_ok=True)
    for model in args.models.split(","):
        for compile_on in (False, True):
            loaded, optimizer = load(model, args.dir, compile_on, args.compile_mode, args.xformers)
            for batch in (int(b) for b in args.batches.split(",")):
                its, first = measure(loaded, batch, args.steps)
                tflops = its * TFLOP_PER_STEP[model] * batch
                frac = f"{tflops / peak:.1%}" if peak else "?"
                goal = f" (goal >= {GOALS[model]:.0f}: {'met' if its >= GOALS[model] else 'not met'})" if batch == 1 else ""
                label = f"compile ({optimizer.compile_state(loaded.pipe)['mode']})" if compile_on else "eager"
                print(f"{model} {SIZES[model]}px batch {batch} {label:28s} {its:7.2f} it/s  {tflops:6.1f} TFLOP/s "
                      f"= {frac} of peak  first call {first:.1f}s{goal}")
            del loaded, optimizer
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
