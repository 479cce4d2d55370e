"""Tiny random-weight ControlNets in the real lllyasviel file layout, and tiny checkpoints they fit, for tests and
benchmarks.

A ControlNet's hint encoder is three stride-2 convolutions (an 8x smaller hint), so it needs a checkpoint whose
VAE downsamples 8x: `write_tiny_checkpoint_8x` is the tiny checkpoint of modules/model_registry/tiny.py with a
four-level VAE. `write_tiny_controlnet` builds a ControlNet with the tiny UNet's numbers, randomises its zero
convolutions (a fresh ControlNet adds exactly zero) and writes `control_model.*` keys: diffusers ships only the
lllyasviel -> diffusers conversion, `controlnet_to_ldm` is the reverse.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from modules.model_registry import ldm_convert, tiny

PREFIX = "control_model."
_NOT_FOR_CONTROLNET = ("up_block_types", "out_channels", "sample_size")


def controlnet_to_ldm(state: dict[str, torch.Tensor], config: dict, prefix: str = PREFIX) -> dict[str, torch.Tensor]:
    """diffusers ControlNetModel state dict -> lllyasviel keys (input_blocks, middle_block, time_embed, label_emb,
    input_hint_block.{0,2,...,14}, zero_convs.N.0, middle_block_out.0)."""
    blocks = sum(1 for k in state if k.startswith("controlnet_cond_embedding.blocks.") and k.endswith(".weight"))
    out: dict[str, torch.Tensor] = {}
    unet_part: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head == "controlnet_cond_embedding":
            if rest.startswith("conv_in."):
                new = "input_hint_block.0." + rest[len("conv_in."):]
            elif rest.startswith("conv_out."):
                new = f"input_hint_block.{2 * (blocks + 1)}." + rest[len("conv_out."):]
            else:
                _, index, tail = rest.split(".", 2)
                new = f"input_hint_block.{2 * (int(index) + 1)}.{tail}"
        elif head == "controlnet_down_blocks":
            index, tail = rest.split(".", 1)
            new = f"zero_convs.{index}.0.{tail}"
        elif head == "controlnet_mid_block":
            new = f"middle_block_out.0.{rest}"
        else:
            unet_part[key] = value
            continue
        out[prefix + new] = value
    for key, value in ldm_convert.unet_to_ldm(unet_part, {"layers_per_block": config["layers_per_block"],
                                                          "up_block_types": []}).items():
        out[prefix + key[len(ldm_convert.UNET_PREFIX):]] = value
    return out


def build_tiny_controlnet(family: str = "sd1", seed: int = 0, zero_conv_std: float = 0.5,
                          unet_config: dict | None = None):
    """A random ControlNetModel matching the tiny UNet of `family` (or the UNet config given), zero
    convolutions randomised."""
    import inspect

    from diffusers import ControlNetModel

    accepted = set(inspect.signature(ControlNetModel.__init__).parameters) - {"self"}
    source = dict(unet_config) if unet_config is not None else dict(tiny._UNET[family])
    config = {k: v for k, v in source.items() if k in accepted and k not in _NOT_FOR_CONTROLNET}
    from modules.model_registry.init_lock import MODULE_INIT_LOCK

    generator = torch.manual_seed(seed)
    with MODULE_INIT_LOCK:  # not while a checkpoint loads on the meta device in another thread
        model = ControlNetModel(**config, conditioning_embedding_out_channels=(16, 32, 96, 256))
    with torch.no_grad():
        for conv in [*model.controlnet_down_blocks, model.controlnet_mid_block]:
            conv.weight.normal_(0.0, zero_conv_std, generator=generator)
            conv.bias.normal_(0.0, zero_conv_std, generator=generator)
    return model.eval().requires_grad_(False)


def write_tiny_controlnet(path: Path, *, family: str = "sd1", seed: int = 0, prefix: str = PREFIX,
                          layout: str = "ldm", zero_conv_std: float = 0.5, unet_config: dict | None = None) -> Path:
    """Write a tiny ControlNet: `.safetensors` or `.pth` by the suffix; `layout` "ldm" (lllyasviel keys, with
    `prefix`), "diffusers" (a single file with diffusers keys) or "folder" (a diffusers model folder at `path`)."""
    model = build_tiny_controlnet(family, seed, zero_conv_std, unet_config)
    if layout == "folder":
        model.save_pretrained(str(path))
        return Path(path)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if layout == "ldm":
        state = controlnet_to_ldm(state, dict(model.config), prefix=prefix)
    c = model.config
    hints = {"controlnet": {"attention_head_dim": c.attention_head_dim, "norm_num_groups": c.norm_num_groups,
                            "addition_time_embed_dim": c.addition_time_embed_dim}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path), metadata={"format": "pt", "easel_arch": json.dumps(hints)})
    else:  # a top-level string is read as metadata (modules/model_registry/safe_load.py)
        torch.save({**state, "easel_arch": json.dumps(hints)}, path)
    return path


def write_tiny_checkpoint_8x(path: Path, *, family: str = "sd1", seed: int = 0) -> Path:
    """A tiny checkpoint (modules/model_registry/tiny.py) whose VAE has four levels: it downsamples 8x."""
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    from modules.model_registry.init_lock import MODULE_INIT_LOCK

    with MODULE_INIT_LOCK:
        parts = tiny.build_tiny_components(family, seed)
        torch.manual_seed(seed + 100)
        parts["vae"] = AutoencoderKL(block_out_channels=(32, 32, 32, 32), in_channels=3, out_channels=3,
                                     down_block_types=("DownEncoderBlock2D",) * 4,
                                     up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=32,
                                     layers_per_block=1, sample_size=64, scaling_factor=parts["vae"].config.scaling_factor,
                                     force_upcast=parts["vae"].config.force_upcast).eval().requires_grad_(False)
    state = tiny.components_to_ldm(family, parts, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"format": "pt",
                                          tiny.ARCH_METADATA_KEY: json.dumps(tiny.tiny_arch_hints(family, parts))})
    return path
