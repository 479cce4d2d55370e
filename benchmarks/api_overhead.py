"""Easel end-to-end txt2img time (HTTP, queue, sampling, PNG encode) vs a bare diffusers pipeline call.

Both run the same checkpoint, sampler (Euler), size, steps and CFG, one after the other in one run, on the
same threads. Prints the ratio Easel / bare. Goals: <= 1.10 for the tiny model at 64x64 / 20 steps and
<= 1.02 for a full-size random-weight SD1.5 at 512x512 / 4 steps (pass --full; that case takes minutes on CPU).

    venv/bin/python benchmarks/api_overhead.py [--full] [--repeats N]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from common import median_time, write_fullsize_sd15  # noqa: E402


def bare_pipeline(ckpt: Path, cache_dir: Path):
    from diffusers import EulerDiscreteScheduler

    from modules.model_registry.checkpoints import CheckpointRegistry
    from modules.model_registry.loader import load_pipeline
    from modules.paths import DataPaths

    registry = CheckpointRegistry(DataPaths.from_data_dir(ckpt.parent.parent.parent))
    registry.refresh()
    loaded = load_pipeline(registry.get(ckpt.name), device=torch.device("cpu"), dtype=torch.float32,
                           cache_dir=cache_dir)
    pipe = loaded.pipe
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_case(label: str, data_dir: Path, ckpt: Path, size: int, steps: int, repeats: int) -> float:
    from tests.support import EaselServer

    body = {"prompt": "a photo of a cat", "negative_prompt": "", "steps": steps, "width": size, "height": size,
            "cfg_scale": 7, "seed": 1, "sampler_name": "Euler"}
    pipe = bare_pipeline(ckpt, data_dir / "cache")

    def bare():
        generator = torch.Generator().manual_seed(1)
        pipe("a photo of a cat", num_inference_steps=steps, height=size, width=size, guidance_scale=7,
             generator=generator, output_type="pil")

    bare()  # warm-up
    bare_time = median_time(bare, repeats)
    pipe = None  # free it before the server loads its own copy
    server = EaselServer(data_dir, "--ckpt", ckpt.name).start(timeout=600)
    try:
        with server.client(timeout=3600) as client:
            def easel():
                response = client.post("/sdapi/v1/txt2img", json=body)
                response.raise_for_status()

            easel()  # warm-up (loads the model)
            easel_time = median_time(easel, repeats)
    finally:
        server.stop()
    ratio = easel_time / bare_time
    print(f"{label}: bare diffusers {bare_time:.3f}s, Easel API {easel_time:.3f}s, ratio {ratio:.3f}", flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="also run the full-size SD1.5 case (slow on CPU)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    from modules.model_registry.tiny import write_tiny_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        ckpt_dir = data_dir / "models" / "Stable-diffusion"
        tiny = write_tiny_checkpoint(ckpt_dir / "tiny.safetensors")
        run_case("tiny 64x64, 20 steps (goal <= 1.10)", data_dir, tiny, 64, 20, args.repeats)
        if args.full:
            tiny.unlink()
            full = write_fullsize_sd15(ckpt_dir / "sd15-random.safetensors")
            run_case("SD1.5 512x512, 4 steps (goal <= 1.02)", data_dir, full, 512, 4, max(1, args.repeats // 2))


if __name__ == "__main__":
    main()
