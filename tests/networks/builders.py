"""Tiny LoRA and textual-inversion files in the kohya / A1111 layouts, for the tiny SD1 test checkpoints."""
from __future__ import annotations

import functools
from pathlib import Path

import torch
from safetensors.torch import save_file

from modules.model_registry import ldm_convert

# diffusers module paths of the tiny SD1 UNet / CLIP (modules.model_registry.tiny) that the LoRAs patch
UNET_TARGETS = [
    "down_blocks.1.attentions.0.proj_in",  # Conv2d 1x1 (SD1: no linear projection)
    "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q",
    "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
    "up_blocks.0.attentions.1.transformer_blocks.0.attn1.to_out.0",
    "mid_block.attentions.0.transformer_blocks.0.attn2.to_v",
    "down_blocks.0.resnets.0.conv1",  # Conv2d 3x3 (LoCon)
]
TE_TARGETS = ["encoder.layers.0.mlp.fc1", "encoder.layers.1.mlp.fc2", "encoder.layers.1.self_attn.q_proj"]


@functools.lru_cache(maxsize=1)
def _shapes() -> dict[str, tuple[str, torch.Size]]:
    """module path -> (kind "unet"/"te", weight shape), from freshly built tiny SD1 components."""
    from modules.model_registry.tiny import build_tiny_components

    parts = build_tiny_components("sd1")
    unet = dict(parts["unet"].named_modules())
    te = {n.removeprefix("text_model."): m for n, m in parts["text_encoder"].named_modules()}
    out = {name: ("unet", unet[name].weight.shape) for name in UNET_TARGETS}
    out.update({name: ("te", te[name].weight.shape) for name in TE_TARGETS})
    return out


def kohya_name(path: str, kind: str, ldm: bool = False) -> str:
    if kind == "te":
        return "lora_te_text_model_" + path.replace(".", "_")
    if ldm:
        path = ldm_convert._unet_key(path + ".weight", 2, [True, False]).removesuffix(".weight")
    return "lora_unet_" + path.replace(".", "_")


def lora_state(seed: int, rank: int = 4, alpha: float = 2.0, strength: float = 0.2, ldm: bool = False,
               te: bool = True) -> dict[str, torch.Tensor]:
    """Random low-rank `lora_down` / `lora_up` / `alpha` factors for every target module."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for path, (kind, shape) in _shapes().items():
        if kind == "te" and not te:
            continue
        key = kohya_name(path, kind, ldm)
        out_dim, in_dim = shape[0], shape[1]
        kernel = tuple(shape[2:])
        state[f"{key}.lora_down.weight"] = torch.randn(rank, in_dim, *kernel, generator=gen) * strength
        up_shape = (out_dim, rank, 1, 1) if kernel else (out_dim, rank)
        state[f"{key}.lora_up.weight"] = torch.randn(*up_shape, generator=gen) * strength
        state[f"{key}.alpha"] = torch.tensor(alpha)
    return state


def write_lora(path: Path, seed: int, *, metadata: dict[str, str] | None = None, **kwargs) -> Path:
    """A kohya-layout LoRA file (.safetensors with metadata, or .pt)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in lora_state(seed, **kwargs).items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path), metadata=metadata or {})
    else:
        torch.save(state, path)
    return path


def write_embedding(path: Path, vectors: torch.Tensor, fmt: str = "a1111") -> Path:
    """`fmt`: "a1111" (.pt string_to_param), "diffusers" (.bin {token: [D]}), "safetensors" (emb_params)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "a1111":
        torch.save({"string_to_param": {"*": vectors}, "name": path.stem, "step": 123,
                    "sd_checkpoint": "abcdef1234", "sd_checkpoint_name": "tiny-a"}, path)
    elif fmt == "diffusers":
        torch.save({f"<{path.stem}>": vectors[0]}, path)
    else:
        save_file({"emb_params": vectors.contiguous()}, str(path))
    return path
