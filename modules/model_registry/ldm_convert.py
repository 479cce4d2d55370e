"""diffusers / transformers -> original LDM (A1111 single-file) key layout.

diffusers' wheel only converts LDM -> diffusers (`diffusers.loaders.single_file_utils`); this is the reverse,
used to write tiny test checkpoints in the real layout. Config-driven: any block count / layers_per_block.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX_SD1 = "cond_stage_model.transformer.text_model."
OPENCLIP_PREFIX_SD2 = "cond_stage_model.model."
CLIP_PREFIX_SDXL = "conditioner.embedders.0.transformer.text_model."
OPENCLIP_PREFIX_SDXL = "conditioner.embedders.1.model."

_UNET_RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
                ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
    "class_embedding.linear_1": "label_emb.0.0", "class_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
}
_VAE_ATTN = [("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")]


def _resnet(rest: str) -> str:
    for new, old in _UNET_RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new):]
    raise KeyError(rest)


def _unet_key(key: str, layers_per_block: int, up_has_attn: list[bool]) -> str:
    parts = key.split(".")
    head2 = ".".join(parts[:2])
    if head2 in _UNET_TOP:
        return _UNET_TOP[head2] + "." + ".".join(parts[2:])
    if parts[0] in ("conv_in", "conv_norm_out", "conv_out"):
        return _UNET_TOP[parts[0]] + "." + ".".join(parts[1:])
    step = layers_per_block + 1
    if parts[0] == "down_blocks":
        b, kind = int(parts[1]), parts[2]
        if kind == "downsamplers":  # down_blocks.b.downsamplers.0.conv.weight
            return f"input_blocks.{1 + b * step + layers_per_block}.0.op." + ".".join(parts[5:])
        j, rest = int(parts[3]), ".".join(parts[4:])
        idx = 1 + b * step + j
        return f"input_blocks.{idx}.0.{_resnet(rest)}" if kind == "resnets" else f"input_blocks.{idx}.1.{rest}"
    if parts[0] == "mid_block":
        kind, j, rest = parts[1], int(parts[2]), ".".join(parts[3:])
        return f"middle_block.{2 * j}.{_resnet(rest)}" if kind == "resnets" else f"middle_block.1.{rest}"
    if parts[0] == "up_blocks":
        b, kind = int(parts[1]), parts[2]
        if kind == "upsamplers":  # up_blocks.b.upsamplers.0.conv.weight
            slot = 2 if up_has_attn[b] else 1
            return f"output_blocks.{b * step + layers_per_block}.{slot}.conv." + ".".join(parts[5:])
        j, rest = int(parts[3]), ".".join(parts[4:])
        idx = b * step + j
        return f"output_blocks.{idx}.0.{_resnet(rest)}" if kind == "resnets" else f"output_blocks.{idx}.1.{rest}"
    raise KeyError(f"Cannot map UNet key {key!r} to the LDM layout")


def unet_to_ldm(state: Mapping[str, Tensor], config: Mapping) -> dict[str, Tensor]:
    """UNet2DConditionModel state dict -> `model.diffusion_model.*` keys."""
    lpb = config["layers_per_block"]
    if not isinstance(lpb, int):
        raise ValueError("per-block layers_per_block is not supported by the LDM layout")
    up_has_attn = ["CrossAttn" in t for t in config["up_block_types"]]
    return {UNET_PREFIX + _unet_key(k, lpb, up_has_attn): v for k, v in state.items()}


def _vae_resnet(rest: str) -> str:
    return rest.replace("conv_shortcut", "nin_shortcut")


def _vae_key(key: str, n_blocks: int) -> tuple[str, bool]:
    """Return (ldm key, is_mid_attention_weight)."""
    parts = key.split(".")
    side = parts[0]
    if side in ("quant_conv", "post_quant_conv"):
        return key, False
    if parts[1] == "conv_norm_out":
        return f"{side}.norm_out." + ".".join(parts[2:]), False
    if parts[1] in ("conv_in", "conv_out"):
        return key, False
    if parts[1] == "mid_block":
        if parts[2] == "resnets":
            return f"{side}.mid.block_{int(parts[3]) + 1}." + _vae_resnet(".".join(parts[4:])), False
        rest = ".".join(parts[4:])
        for new, old in _VAE_ATTN:
            if rest.startswith(new + "."):
                return f"{side}.mid.attn_1.{old}{rest[len(new):]}", rest.endswith("weight") and new != "group_norm"
        raise KeyError(key)
    if parts[1] == "down_blocks":
        i = int(parts[2])
        if parts[3] == "downsamplers":
            return f"encoder.down.{i}.downsample.conv." + ".".join(parts[6:]), False
        return f"encoder.down.{i}.block.{parts[4]}." + _vae_resnet(".".join(parts[5:])), False
    if parts[1] == "up_blocks":
        i = n_blocks - 1 - int(parts[2])
        if parts[3] == "upsamplers":
            return f"decoder.up.{i}.upsample.conv." + ".".join(parts[6:]), False
        return f"decoder.up.{i}.block.{parts[4]}." + _vae_resnet(".".join(parts[5:])), False
    raise KeyError(f"Cannot map VAE key {key!r} to the LDM layout")


def vae_to_ldm(state: Mapping[str, Tensor], config: Mapping, prefix: str = VAE_PREFIX) -> dict[str, Tensor]:
    """AutoencoderKL state dict -> `first_stage_model.*` keys (mid-attention linears become 1x1 convs)."""
    n = len(config["block_out_channels"])
    out: dict[str, Tensor] = {}
    for k, v in state.items():
        new, is_attn_weight = _vae_key(k, n)
        out[prefix + new] = v.reshape(*v.shape, 1, 1) if is_attn_weight and v.ndim == 2 else v
    return out


def clip_to_ldm(state: Mapping[str, Tensor], prefix: str = CLIP_PREFIX_SD1) -> dict[str, Tensor]:
    """HF CLIPTextModel state dict -> `<prefix>` + text_model keys (transformers>=5.6 dropped `text_model.`)."""
    return {prefix + k.removeprefix("text_model."): v for k, v in state.items() if not k.endswith("position_ids")}


# (HF name, OpenCLIP name) inside one transformer layer; the fused attn.in_proj is handled on its own.
OPENCLIP_LAYER_NAMES = [("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"),
                        ("mlp.fc2", "mlp.c_proj"), ("self_attn.out_proj", "attn.out_proj")]


def openclip_to_ldm(state: Mapping[str, Tensor], prefix: str = OPENCLIP_PREFIX_SDXL) -> dict[str, Tensor]:
    """HF CLIPTextModel(WithProjection) state dict -> OpenCLIP layout (fused in_proj, transposed projection)."""
    sd = {k.removeprefix("text_model."): v for k, v in state.items() if not k.endswith("position_ids")}
    out: dict[str, Tensor] = {}
    fused: dict[str, dict[str, Tensor]] = {}
    for k, v in sd.items():
        if k == "embeddings.token_embedding.weight":
            out[prefix + "token_embedding.weight"] = v
        elif k == "embeddings.position_embedding.weight":
            out[prefix + "positional_embedding"] = v
        elif k.startswith("final_layer_norm."):
            out[prefix + "ln_final." + k.split(".", 1)[1]] = v
        elif k == "text_projection.weight":
            out[prefix + "text_projection"] = v.T.contiguous()
        elif k.startswith("encoder.layers."):
            _, _, layer, rest = k.split(".", 3)
            base = f"{prefix}transformer.resblocks.{layer}."
            if rest.startswith("self_attn.") and rest.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                _, proj, kind = rest.split(".")
                fused.setdefault(f"{base}attn.in_proj_{kind}", {})[proj] = v
                continue
            for new, old in OPENCLIP_LAYER_NAMES:
                if rest.startswith(new + "."):
                    out[base + old + rest[len(new):]] = v
                    break
            else:
                raise KeyError(f"Cannot map CLIP key {k!r} to the OpenCLIP layout")
        else:
            raise KeyError(f"Cannot map CLIP key {k!r} to the OpenCLIP layout")
    for key, qkv in fused.items():
        out[key] = torch.cat([qkv["q_proj"], qkv["k_proj"], qkv["v_proj"]], dim=0)
    return out
