"""CPU speed of each pipeline component in float32 vs bfloat16, contiguous vs channels_last, side by side.

Full-size random-weight SD1.5 (the same file as benchmarks/model_load.py): the text encoder (2 x 77 tokens), one
UNet call at batch 2 (CFG) and one VAE decode, at --size (512 by default; 256 is four times faster). Each
variant runs once to warm up, then --repeats times, interleaved round by round so that load from other work on
the machine spreads over all of them; prints medians and the speed-up over float32 contiguous, plus how far
bf16 outputs are from fp32 ones (max abs difference; the weights are random, so this only shows the rounding).
Threads: the physical cores, as Easel sets them, or --threads. Not a test:

    venv/bin/python benchmarks/cpu_precision.py [--size 512] [--repeats 2] [--threads N] [--dir DIR]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import write_fullsize_sd15

from modules.engine.devices import configure_cpu_threads


def variants(module: torch.nn.Module, convolutional: bool) -> dict[str, torch.nn.Module]:
    out = {"fp32": module}
    if convolutional:
        out["fp32+cl"] = copy.deepcopy(module).to(memory_format=torch.channels_last)
    out["bf16"] = copy.deepcopy(module).to(torch.bfloat16)
    if convolutional:
        out["bf16+cl"] = copy.deepcopy(module).to(torch.bfloat16, memory_format=torch.channels_last)
    return out


def run_component(name: str, modules: dict[str, torch.nn.Module], call, repeats: int) -> dict[str, float]:
    outputs = {}
    for label, module in modules.items():  # warm-up (oneDNN primitive creation) and reference outputs
        outputs[label] = call(module, label).float()
    times: dict[str, list[float]] = {label: [] for label in modules}
    for _ in range(repeats):
        for label, module in modules.items():
            started = time.perf_counter()
            call(module, label)
            times[label].append(time.perf_counter() - started)
    base = statistics.median(times["fp32"])
    print(f"\n{name}")
    for label in modules:
        median = statistics.median(times[label])
        diff = (outputs[label] - outputs["fp32"]).abs().max().item()
        print(f"  {label:8s} {median:8.3f}s  x{base / median:4.2f} vs fp32   max|diff| {diff:.3g}   "
              f"runs {', '.join(f'{t:.2f}' for t in times[label])}")
    return {label: statistics.median(t) for label, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "easel-bench-load")
    parser.add_argument("--only", choices=["text_encoder", "unet", "vae"], action="append")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads (default: the physical cores; 1 is steadier on a shared machine)")
    args = parser.parse_args()
    threads = configure_cpu_threads()
    if args.threads:
        threads = args.threads
        torch.set_num_threads(threads)
    from modules.model_registry.checkpoints import CheckpointInfo
    from modules.model_registry.loader import load_pipeline

    path = write_fullsize_sd15(args.dir / "sd15.safetensors")
    info = CheckpointInfo(filename=path, name=path.name, model_name=path.stem)
    pipe = load_pipeline(info, device=torch.device("cpu"), dtype=torch.float32, cache_dir=args.dir / "cache").pipe
    print(f"threads {threads}, size {args.size}, torch {torch.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    latent = args.size // 8
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 49407, (2, 77), generator=gen)
    sample = torch.randn(2, 4, latent, latent, generator=gen)
    context = torch.randn(2, 77, 768, generator=gen)
    z = torch.randn(1, 4, latent, latent, generator=gen)
    only = set(args.only or ["text_encoder", "unet", "vae"])

    def dtype_of(module):
        return next(module.parameters()).dtype

    def cl(label):
        return torch.channels_last if label.endswith("+cl") else torch.contiguous_format

    with torch.inference_mode():
        if "text_encoder" in only:
            run_component("text encoder (CLIP-L, 2 x 77 tokens)", variants(pipe.text_encoder, False),
                          lambda m, _label: m(input_ids=tokens).last_hidden_state, args.repeats)
        if "unet" in only:
            run_component(f"UNet, one CFG call (batch 2, {args.size}x{args.size})", variants(pipe.unet, True),
                          lambda m, label: m(sample.to(dtype_of(m)).contiguous(memory_format=cl(label)),
                                             torch.tensor(500), encoder_hidden_states=context.to(dtype_of(m))).sample,
                          args.repeats)
        if "vae" in only:
            run_component(f"VAE decode (1 image, {args.size}x{args.size})", variants(pipe.vae, True),
                          lambda m, label: m.decode(z.to(dtype_of(m)).contiguous(memory_format=cl(label))).sample,
                          args.repeats)


if __name__ == "__main__":
    main()
