"""Build diffusers / transformers components from an LDM single-file state dict, offline and exactly.

Modules are created on the meta device (accelerate's init_empty_weights), the converted tensors are
assigned into them (no random init, no copy beyond the dtype cast) and any missing weight is an error.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import SimpleNamespace

import torch
from torch import Tensor

log = logging.getLogger(__name__)
UNET_PREFIX = "model.diffusion_model."
_HARMLESS_EXTRA = ("position_ids", "text_projection.weight", "logit_scale")


@contextmanager
def _empty_weights() -> Iterator[None]:
    from modules.model_registry.init_lock import MODULE_INIT_LOCK  # other threads must not build modules meanwhile

    with MODULE_INIT_LOCK:
        try:
            from accelerate import init_empty_weights
        except ImportError:  # accelerate is a hard requirement, but keep a slow path
            yield
            return
        with init_empty_weights():
            yield


def assign_weights(model: torch.nn.Module, state: Mapping[str, Tensor], dtype: torch.dtype, what: str) -> None:
    """Assign `state` into `model` (strict on missing keys), casting floating tensors to `dtype`."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise ValueError(f"{what}: {len(missing)} weights missing from the checkpoint, e.g. {missing[:3]}")
    extra = [k for k in state if k not in expected]
    serious = [k for k in extra if not k.endswith(_HARMLESS_EXTRA)]
    if serious:
        log.warning("%s: ignoring %d unexpected weights, e.g. %s", what, len(serious), serious[:3])
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items() if state[k].shape != v.shape]
    if wrong:
        raise ValueError(f"{what}: shape mismatch for {len(wrong)} weights, e.g. {wrong[:2]} (file, model)")
    cast = {k: (state[k].to(dtype) if state[k].is_floating_point() else state[k]).contiguous() for k in expected}
    model.load_state_dict(cast, strict=True, assign=True)
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise ValueError(f"{what}: tensors left uninitialised: {leftover[:3]}")
    model.eval().requires_grad_(False)


def build_unet(state: Mapping[str, Tensor], config: dict, dtype: torch.dtype):
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    converted = convert_ldm_unet_checkpoint(state, config)
    with _empty_weights():
        unet = UNet2DConditionModel.from_config(config)
    assign_weights(unet, converted, dtype, "UNet")
    return unet


def vae_subset(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """LDM VAE tensors with any `first_stage_model.` / `vae.` prefix removed (bare VAE files pass through)."""
    for prefix in ("first_stage_model.", "vae."):
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if sub:
            return sub
    return {k: v for k, v in state.items() if k.startswith(("encoder.", "decoder.", "quant_conv.", "post_quant_conv."))}


def convert_vae(vae_state: Mapping[str, Tensor], config: dict) -> dict[str, Tensor]:
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    return convert_ldm_vae_checkpoint(dict(vae_state), config)


def build_vae(vae_state: Mapping[str, Tensor], config: dict, dtype: torch.dtype):
    from diffusers import AutoencoderKL

    converted = convert_vae(vae_state, config)
    with _empty_weights():
        vae = AutoencoderKL.from_config(config)
    assign_weights(vae, converted, dtype, "VAE")
    return vae


def convert_clip(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """OpenAI-CLIP layout under `prefix` -> HF CLIPTextModel keys (without `text_model.`)."""
    out = {}
    for key, value in state.items():
        if key.startswith(prefix):
            out[key[len(prefix):].removeprefix("text_model.")] = value
    return out


def convert_openclip(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """OpenCLIP layout under `prefix` -> HF keys (without `text_model.`), via diffusers' converter."""
    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint

    width = int(state[prefix + "token_embedding.weight"].shape[1])
    stub = SimpleNamespace(config=SimpleNamespace(hidden_size=width))
    sub = {k: v for k, v in state.items() if k.startswith(prefix)}
    # The converter splits the fused in_proj by text_projection.shape[0] (= width) or, without one, by
    # config.hidden_size: both are the width here.
    converted = convert_open_clip_checkpoint(stub, sub, prefix=prefix)
    return {k.removeprefix("text_model."): v for k, v in converted.items()}


def build_text_encoder(hf_state: Mapping[str, Tensor], config: dict, dtype: torch.dtype, with_projection: bool):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    with _empty_weights():
        model = cls(CLIPTextConfig(**config))
    expected = model.state_dict()
    # CLIPTextModelWithProjection keeps the `text_model.` wrapper; CLIPTextModel (transformers>=5.6) does not.
    if any(k.startswith("text_model.") for k in expected):
        hf_state = {(k if k == "text_projection.weight" else "text_model." + k): v for k, v in hf_state.items()}
    assign_weights(model, hf_state, dtype, cls.__name__)
    return model
