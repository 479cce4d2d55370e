"""Tiny random-weight checkpoints in the real A1111/LDM single-file layout, for tests and first launch.

Sizes: UNet block_out_channels (32, 64), layers_per_block 2, cross_attention_dim 32 (64 for SDXL: two
concatenated 32-wide encoders), CLIP text hidden 32 / 2 layers / vocab 49408, VAE (32, 64).
Numbers that tensor shapes cannot tell (attention heads, norm groups, activation, sample size, scaling
factor, prediction type) are stored as JSON under the safetensors `__metadata__` key `easel_arch`
(or a top-level `"easel_arch"` string in a .ckpt). Real checkpoints never carry it.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from modules.model_registry import ldm_convert as lc

log = logging.getLogger(__name__)
ARCH_METADATA_KEY = "easel_arch"
FAMILIES = ("sd1", "sd2", "sdxl")

_UNET_COMMON = dict(block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
                    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), norm_num_groups=32)
_UNET = {
    "sd1": dict(_UNET_COMMON, cross_attention_dim=32, attention_head_dim=8),
    "sd2": dict(_UNET_COMMON, cross_attention_dim=32, attention_head_dim=(2, 4), use_linear_projection=True),
    "sdxl": dict(_UNET_COMMON, cross_attention_dim=64, attention_head_dim=(2, 4), use_linear_projection=True,
                 addition_embed_type="text_time", addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
                 projection_class_embeddings_input_dim=80),
}
_VAE_SCALE = {"sd1": 0.18215, "sd2": 0.18215, "sdxl": 0.13025}
_PREDICTION = {"sd1": "epsilon", "sd2": "v_prediction", "sdxl": "epsilon"}


def _clip_config(hidden_act: str, projection_dim: int = 32):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                          num_attention_heads=4, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407,
                          pad_token_id=1, hidden_act=hidden_act, projection_dim=projection_dim, layer_norm_eps=1e-5)


def build_tiny_components(family: str = "sd1", seed: int = 0, *,
                          inpainting: bool = False) -> dict[str, torch.nn.Module]:
    """Random-weight diffusers/transformers modules; same (family, seed) -> identical weights. `inpainting`: a
    9-channel UNet (latents + mask + masked-image latents), the layout of sd-v1-5-inpainting / SDXL inpainting."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    if family not in FAMILIES:
        raise ValueError(f"Unknown tiny family {family!r}; expected one of {list(FAMILIES)}")
    torch.manual_seed(seed)
    unet_config = dict(_UNET[family], in_channels=9) if inpainting else _UNET[family]
    parts: dict[str, torch.nn.Module] = {"unet": UNet2DConditionModel(**unet_config)}
    parts["vae"] = AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3,
                                 down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                                 latent_channels=4, norm_num_groups=32, sample_size=64,
                                 scaling_factor=_VAE_SCALE[family], force_upcast=family == "sdxl")
    parts["text_encoder"] = CLIPTextModel(_clip_config("gelu" if family == "sd2" else "quick_gelu"))
    if family == "sdxl":
        parts["text_encoder_2"] = CLIPTextModelWithProjection(_clip_config("gelu"))
    for name in ("text_encoder", "text_encoder_2"):
        for norm in (m for m in parts.get(name, torch.nn.Module()).modules() if isinstance(m, torch.nn.LayerNorm)):
            # Fresh LayerNorms output exactly mean-0 hidden states; A1111's emphasis restores the mean (a ratio of
            # means), which is 0/0 there. Trained encoders never have that, so neither do the tiny ones.
            with torch.no_grad():
                norm.weight.normal_(1.0, 0.2)
                norm.bias.normal_(0.0, 0.2)
    for module in parts.values():
        module.eval().requires_grad_(False)
    return parts


def tiny_arch_hints(family: str, parts: dict[str, torch.nn.Module]) -> dict:
    """The non-shape facts the loader needs to rebuild these modules exactly."""
    u, v = parts["unet"].config, parts["vae"].config
    hints = {
        "version": 1, "family": family, "prediction_type": _PREDICTION[family],
        "unet": {"attention_head_dim": u.attention_head_dim, "norm_num_groups": u.norm_num_groups,
                 "sample_size": u.sample_size, "addition_time_embed_dim": u.addition_time_embed_dim,
                 "upcast_attention": u.upcast_attention},
        "vae": {"norm_num_groups": v.norm_num_groups, "sample_size": v.sample_size,
                "scaling_factor": v.scaling_factor, "force_upcast": v.force_upcast},
    }
    for name in ("text_encoder", "text_encoder_2"):
        if name in parts:
            c = parts[name].config
            hints[name] = {"num_attention_heads": c.num_attention_heads, "hidden_act": c.hidden_act,
                           "layer_norm_eps": c.layer_norm_eps}
    return json.loads(json.dumps(hints))  # tuples -> lists


def components_to_ldm(family: str, parts: dict[str, torch.nn.Module], seed: int = 0) -> dict[str, torch.Tensor]:
    """Convert built modules into one LDM single-file state dict."""
    sd = lc.unet_to_ldm(parts["unet"].state_dict(), parts["unet"].config)
    sd.update(lc.vae_to_ldm(parts["vae"].state_dict(), parts["vae"].config))
    te = parts["text_encoder"].state_dict()
    if family == "sd1":
        sd.update(lc.clip_to_ldm(te, lc.CLIP_PREFIX_SD1))
    elif family == "sd2":
        sd.update(lc.openclip_to_ldm(te, lc.OPENCLIP_PREFIX_SD2))
        # Real SD2 files carry an (unused by CLIPTextModel) projection; keep the layout faithful.
        gen = torch.Generator().manual_seed(seed + 1)
        hidden = parts["text_encoder"].config.hidden_size
        sd[lc.OPENCLIP_PREFIX_SD2 + "text_projection"] = torch.randn(hidden, hidden, generator=gen)
    else:
        sd.update(lc.clip_to_ldm(te, lc.CLIP_PREFIX_SDXL))
        sd.update(lc.openclip_to_ldm(parts["text_encoder_2"].state_dict(), lc.OPENCLIP_PREFIX_SDXL))
    return {k: v.detach().contiguous().clone() for k, v in sd.items()}


def write_tiny_checkpoint(path: Path, *, family: str = "sd1", seed: int = 0, fmt: str = "safetensors",
                          inpainting: bool = False) -> Path:
    """Write a tiny random-weight checkpoint of `family` to `path` ("safetensors" or "ckpt" format); `inpainting`
    gives the 9-channel UNet of inpainting checkpoints."""
    start = time.perf_counter()
    path = Path(path)
    parts = build_tiny_components(family, seed, inpainting=inpainting)
    sd = components_to_ldm(family, parts, seed)
    hints = json.dumps(tiny_arch_hints(family, parts))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(sd, str(tmp), metadata={"format": "pt", ARCH_METADATA_KEY: hints})
    elif fmt == "ckpt":
        torch.save({"state_dict": sd, ARCH_METADATA_KEY: hints}, tmp)
    else:
        raise ValueError(f"Unknown checkpoint format {fmt!r}; expected 'safetensors' or 'ckpt'")
    tmp.replace(path)
    log.info("Wrote tiny %s checkpoint %s (seed %d) in %.2fs", family, path, seed, time.perf_counter() - start)
    return path


def write_tiny_vae(path: Path, *, family: str = "sd1", seed: int = 1) -> Path:
    """A standalone tiny VAE file (bare LDM `encoder.*` / `decoder.*` keys, like vae-ft-mse files)."""
    from safetensors.torch import save_file

    vae = build_tiny_components(family, seed)["vae"]
    sd = lc.vae_to_ldm(vae.state_dict(), vae.config, prefix="")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path), metadata={"format": "pt"})
    return path
