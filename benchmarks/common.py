"""Shared helpers for the benchmark scripts (not a test module)."""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_fullsize_sd15(path: Path, seed: int = 0) -> Path:
    """A full-size SD1.5-architecture checkpoint with random weights, in the A1111 single-file layout (fp16)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    from modules.model_registry import configs
    from modules.model_registry.tiny import components_to_ldm

    if path.exists():
        return path
    torch.manual_seed(seed)
    parts = {
        "unet": UNet2DConditionModel.from_config(configs.load_component_config("sd1", "unet")),
        "vae": AutoencoderKL.from_config(configs.load_component_config("sd1", "vae")),
        "text_encoder": CLIPTextModel(CLIPTextConfig(**configs.load_component_config("sd1", "text_encoder"))),
    }
    state = components_to_ldm("sd1", parts, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(path), metadata={"format": "pt"})
    return path


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
