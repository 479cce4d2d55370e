"""--compile on the CPU: eager vs torch.compile (inductor) per mode, for the UNet and the VAE decoder.

Each mode runs in a fresh process with an empty inductor cache, so the compile time printed is what a first
start pays (a restart reuses the on-disk cache and pays much less). Per call: one UNet call at batch 2 (CFG)
and one VAE decode at --size, median of --repeats after the compiling call; eager runs in the same process
first. Prints seconds, the speed-up over eager and the largest difference from the eager output. The model is
the tiny test model (--model tiny) or the full-size random SD1.5 file of benchmarks/model_load.py (--model sd15;
compiling it takes many minutes on 2 cores). --precision bf16 runs the UNet (and VAE, per the flag) in bf16.
Not a test:

    venv/bin/python benchmarks/compile.py [--model tiny|sd15] [--size 64] [--modes default,max-autotune-no-cudagraphs]
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

from common import ROOT, write_fullsize_sd15

GIB = 1024 ** 3


def _model_file(model: str, workdir: Path) -> Path:
    if model == "sd15":
        return write_fullsize_sd15(workdir / "sd15.safetensors")
    from modules.model_registry.tiny import write_tiny_checkpoint

    path = workdir / "tiny.safetensors"
    return path if path.exists() else write_tiny_checkpoint(path, family="sd1", seed=0)


def worker(mode: str, model_file: Path, size: int, repeats: int, precision: str) -> dict:
    import torch

    from modules.cmd_args import parse_args
    from modules.engine.compile import CompileStats, _unet_inputs, compile_module
    from modules.engine.devices import choose_precision, configure_cpu_threads
    from modules.engine.optimize import use_channels_last
    from modules.model_registry.checkpoints import CheckpointInfo
    from modules.model_registry.loader import load_pipeline

    threads = configure_cpu_threads()
    if os.environ.get("BENCH_THREADS"):
        threads = int(os.environ["BENCH_THREADS"])
        torch.set_num_threads(threads)
    prec = choose_precision(parse_args(["--use-cpu", "all"] + (["--precision", precision] if precision else [])))
    info = CheckpointInfo(filename=model_file, name=model_file.name, model_name=model_file.stem)
    pipe = load_pipeline(info, device=torch.device("cpu"), dtype=torch.float32, cache_dir=model_file.parent / "cache",
                         dtypes=prec.component_dtypes()).pipe
    for name in ("unet", "vae"):
        if use_channels_last(prec, name):
            getattr(pipe, name).to(memory_format=torch.channels_last)
    args, kwargs = _unet_inputs(pipe, "sd1", size, size, 2)
    gen = torch.Generator().manual_seed(0)
    args = (torch.randn(args[0].shape, generator=gen).to(args[0].dtype), args[1])
    kwargs["encoder_hidden_states"] = torch.randn(kwargs["encoder_hidden_states"].shape, generator=gen).to(
        args[0].dtype)
    scale = pipe.vae_scale_factor
    z = torch.randn(1, 4, size // scale, size // scale, generator=gen).to(next(pipe.vae.parameters()).dtype)

    def unet():
        return pipe.unet(*args, **kwargs).sample

    def vae():
        return pipe.vae.decode(z).sample

    def timed(fn):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    result = {"threads": threads}
    with torch.no_grad():
        ref_unet, ref_vae = unet().float(), vae().float()
        result["eager"] = {"unet": timed(unet), "vae": timed(vae)}
        if mode != "eager":
            stats = CompileStats(mode=mode)
            compile_module(pipe.unet, "unet", mode, 4, stats)
            compile_module(pipe.vae.decoder, "vae.decoder", mode, 4, stats)
            started = time.perf_counter()
            out_unet = unet().float()
            unet_compile = time.perf_counter() - started
            started = time.perf_counter()
            out_vae = vae().float()
            vae_compile = time.perf_counter() - started
            result[mode] = {"unet": timed(unet), "vae": timed(vae), "unet_compile": unet_compile,
                            "vae_compile": vae_compile,
                            "unet_diff": (out_unet - ref_unet).abs().max().item(),
                            "vae_diff": (out_vae - ref_vae).abs().max().item()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["tiny", "sd15"], default="tiny")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--modes", default="default,max-autotune-no-cudagraphs")
    parser.add_argument("--precision", default="", choices=["", "bf16"])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "easel-bench-load")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (default: the physical cores)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.file, args.size, args.repeats, args.precision)))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    model_file = _model_file(args.model, args.dir)
    print(f"model {args.model} ({model_file.name}), {args.size}x{args.size}, precision {args.precision or 'fp32'}, "
          f"median of {args.repeats}")
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
            env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache)
            if args.threads:
                env["BENCH_THREADS"] = str(args.threads)
            cmd = [sys.executable, __file__, "--worker", mode, "--file", str(model_file), "--size", str(args.size),
                   "--repeats", str(args.repeats), "--precision", args.precision]
            started = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
            if out.returncode:
                print(f"\n{mode}: failed ({out.returncode})\n{out.stderr[-3000:]}")
                continue
            result = json.loads(out.stdout.strip().splitlines()[-1])
        eager, comp = result["eager"], result[mode]
        print(f"\n{mode} ({result['threads']} threads, whole run {time.perf_counter() - started:.0f}s)")
        for part in ("unet", "vae"):
            print(f"  {part:5s} eager {eager[part]:.4f}s  compiled {comp[part]:.4f}s  x{eager[part] / comp[part]:.2f}  "
                  f"compile {comp[part + '_compile']:.1f}s  max|diff| {comp[part + '_diff']:.3g}")


if __name__ == "__main__":
    main()
