"""Infer diffusers component configs from single-file (LDM layout) tensor shapes.

Start from the shipped config of the family (real SD1.5 / SD2.1 / SDXL numbers), then overwrite every
number the shapes reveal (channels, block counts, layers, context width, projection sizes). Numbers that
shapes cannot reveal (attention heads, norm groups, activation, sample size, VAE scaling factor) come from
the `easel_arch` hints of tiny checkpoints, else from the shipped config when the shapes match it, else
from the usual SD conventions (head width 64 for SD2/SDXL, 8 heads for SD1).
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor

from modules.model_registry.configs import load_component_config

UNET = "model.diffusion_model."


def _indices(keys, pattern: str) -> set[int]:
    rx = re.compile(pattern)
    return {int(m.group(1)) for k in keys if (m := rx.match(k))}


def infer_unet_config(state: Mapping[str, Tensor], family: str, hints: Mapping | None = None) -> dict:
    """UNet2DConditionModel config for the `model.diffusion_model.*` tensors of `state`."""
    hints = dict(hints or {})
    cfg = load_component_config(family, "unet")
    unet = {k[len(UNET):]: v for k, v in state.items() if k.startswith(UNET)}
    if "input_blocks.0.0.weight" not in unet:
        raise ValueError("no UNet weights (model.diffusion_model.input_blocks.0.0.weight is missing)")
    keys = list(unet)
    n_inputs = max(_indices(keys, r"input_blocks\.(\d+)\.")) + 1
    n_ops = len(_indices(keys, r"input_blocks\.(\d+)\.0\.op\.weight"))
    levels = n_ops + 1
    lpb = (n_inputs - 1 - n_ops) // levels
    channels, down_types, depth = [], [], []
    for level in range(levels):
        first = 1 + level * (lpb + 1)
        channels.append(int(unet[f"input_blocks.{first}.0.out_layers.3.weight"].shape[0]))
        has_attn = f"input_blocks.{first}.1.proj_in.weight" in unet
        down_types.append("CrossAttnDownBlock2D" if has_attn else "DownBlock2D")
        blocks = _indices(keys, rf"input_blocks\.{first}\.1\.transformer_blocks\.(\d+)\.")
        depth.append(max(blocks) + 1 if blocks else 1)
    up_types = ["CrossAttnUpBlock2D" if t.startswith("CrossAttn") else "UpBlock2D" for t in reversed(down_types)]
    same_shape = channels == list(cfg["block_out_channels"]) and down_types == list(cfg["down_block_types"])
    cfg.update(
        in_channels=int(unet["input_blocks.0.0.weight"].shape[1]),
        out_channels=int(unet["out.2.weight"].shape[0]),
        block_out_channels=channels, layers_per_block=lpb,
        down_block_types=down_types, up_block_types=up_types,
    )
    attn_key = next((k for k in keys if k.endswith("attn2.to_k.weight")), None)
    if attn_key is not None:
        cfg["cross_attention_dim"] = int(unet[attn_key].shape[1])
    proj_in = next((v for k, v in unet.items() if k.endswith(".proj_in.weight")), None)
    if proj_in is not None:
        cfg["use_linear_projection"] = proj_in.ndim == 2
    if "transformer_layers_per_block" in cfg or any(d != 1 for d in depth):
        cfg["transformer_layers_per_block"] = depth if len(set(depth)) > 1 else depth[0]
    time_dim = int(unet["time_embed.0.weight"].shape[0])
    if time_dim != 4 * channels[0]:
        cfg["time_embedding_dim"] = time_dim
    if "label_emb.0.0.weight" in unet:
        cfg["addition_embed_type"] = "text_time"
        cfg["projection_class_embeddings_input_dim"] = int(unet["label_emb.0.0.weight"].shape[1])
    if "attention_head_dim" in hints:
        cfg["attention_head_dim"] = hints["attention_head_dim"]
    elif not same_shape:
        cfg["attention_head_dim"] = 8 if family == "sd1" else [max(1, c // 64) for c in channels]
    for name in ("norm_num_groups", "sample_size", "addition_time_embed_dim", "upcast_attention"):
        if name in hints:
            cfg[name] = hints[name]
    return cfg


def infer_vae_config(vae_state: Mapping[str, Tensor], family: str, hints: Mapping | None = None) -> dict:
    """AutoencoderKL config from LDM VAE tensors whose keys start at `encoder.` / `decoder.` (prefix removed)."""
    hints = dict(hints or {})
    cfg = load_component_config(family, "vae")
    keys = list(vae_state)
    levels = max(_indices(keys, r"encoder\.down\.(\d+)\.")) + 1
    lpb = max(_indices(keys, r"encoder\.down\.0\.block\.(\d+)\.")) + 1
    channels = [int(vae_state[f"encoder.down.{i}.block.0.conv2.weight"].shape[0]) for i in range(levels)]
    cfg.update(
        in_channels=int(vae_state["encoder.conv_in.weight"].shape[1]),
        out_channels=int(vae_state["decoder.conv_out.weight"].shape[0]),
        latent_channels=int(vae_state["decoder.conv_in.weight"].shape[1]),
        block_out_channels=channels, layers_per_block=lpb,
        down_block_types=["DownEncoderBlock2D"] * levels, up_block_types=["UpDecoderBlock2D"] * levels,
    )
    for name in ("norm_num_groups", "sample_size", "scaling_factor", "force_upcast"):
        if name in hints:
            cfg[name] = hints[name]
    return cfg


def infer_clip_config(hf_state: Mapping[str, Tensor], family: str, component: str,
                      hints: Mapping | None = None) -> dict:
    """CLIPTextConfig kwargs from an already converted (HF layout, `text_model.` removed) text-encoder state."""
    hints = dict(hints or {})
    cfg = load_component_config(family, component)
    for meta in ("architectures", "torch_dtype", "model_type"):
        cfg.pop(meta, None)
    vocab, hidden = hf_state["embeddings.token_embedding.weight"].shape
    layers = max(_indices(list(hf_state), r"encoder\.layers\.(\d+)\.")) + 1
    same_width = hidden == cfg["hidden_size"]
    cfg.update(
        vocab_size=int(vocab), hidden_size=int(hidden), num_hidden_layers=layers,
        max_position_embeddings=int(hf_state["embeddings.position_embedding.weight"].shape[0]),
        intermediate_size=int(hf_state["encoder.layers.0.mlp.fc1.weight"].shape[0]),
    )
    if "text_projection.weight" in hf_state:
        cfg["projection_dim"] = int(hf_state["text_projection.weight"].shape[0])
    if not same_width:
        cfg["num_attention_heads"] = max(1, int(hidden) // 64)
    for name in ("num_attention_heads", "hidden_act", "layer_norm_eps"):
        if name in hints:
            cfg[name] = hints[name]
    return cfg
