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


def write_fullsize_random(path: Path, family: str, seed: int = 0) -> Path:
    """A full-size `family` ("sd1", "sd2", "sdxl") checkpoint in the A1111 single-file layout, fp16 random values.

    Shapes come from the shipped configs on the meta device and each tensor is drawn directly in fp16, so it
    needs the file's size in RAM (about 7 GB for SDXL) instead of the float32 model; the values are not a trained
    model's (right for load and speed measurements only). Streamed to disk by the converted cache's writer.
    """
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from modules.model_registry import configs
    from modules.model_registry.converted_cache import write_safetensors
    from modules.model_registry.tiny import components_to_ldm

    if path.exists():
        return path

    def clip(component, cls):
        cfg = configs.load_component_config(family, component)
        for meta in ("architectures", "torch_dtype", "model_type"):
            cfg.pop(meta, None)
        return cls(CLIPTextConfig(**cfg))

    with init_empty_weights(include_buffers=True):
        parts = {"unet": UNet2DConditionModel.from_config(configs.load_component_config(family, "unet")),
                 "vae": AutoencoderKL.from_config(configs.load_component_config(family, "vae")),
                 "text_encoder": clip("text_encoder", CLIPTextModel)}
        if family == "sdxl":
            parts["text_encoder_2"] = clip("text_encoder_2", CLIPTextModelWithProjection)
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, meta in components_to_ldm(family, parts, seed).items():
        if meta.is_floating_point():
            state[key] = torch.randn(meta.shape, generator=generator, dtype=torch.float16).mul_(0.02)
        else:
            state[key] = torch.zeros(meta.shape, dtype=meta.dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write_safetensors(tmp, state, {"format": "pt"}, None)
    tmp.replace(path)
    return path


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
