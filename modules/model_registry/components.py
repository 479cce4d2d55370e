"""diffusers / transformers components from an LDM single-file state dict, offline and exactly.

Key conversion works on lazy tensors (views of the file, see tensor_file.py): renames, reshapes and row slices
only, so nothing is read here. Modules are created on the meta device (accelerate's init_empty_weights), the
converted tensors are checked against them (any missing or mis-shaped weight is an error) and, once read into
RAM, assigned into them (`load_state_dict(assign=True)`: no random init, no second copy).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import Tensor

from modules.model_registry.ldm_convert import OPENCLIP_LAYER_NAMES

log = logging.getLogger(__name__)
UNET_PREFIX = "model.diffusion_model."
SD2_OPENCLIP_PREFIX = "cond_stage_model.model."
# diffusers' SD2 text encoder has 23 layers: SD2 conditions on the penultimate of OpenCLIP's 24, whose last
# block (and the unused projection) the converter drops, by this index.
SD2_DROPPED_BLOCK = 23
_HARMLESS_EXTRA = ("position_ids", "text_projection.weight", "logit_scale")
_OPENCLIP_TOP = {
    "token_embedding.weight": "embeddings.token_embedding.weight",
    "positional_embedding": "embeddings.position_embedding.weight",
    "ln_final.weight": "final_layer_norm.weight",
    "ln_final.bias": "final_layer_norm.bias",
}


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


def select_weights(model: torch.nn.Module, state: Mapping[str, Tensor], what: str) -> dict[str, Tensor]:
    """The entries of `state` that `model` expects, checked for missing keys and shapes (no data read)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise ValueError(f"{what}: {len(missing)} weights missing from the checkpoint, e.g. {missing[:3]}")
    serious = [k for k in state if k not in expected and not k.endswith(_HARMLESS_EXTRA)]
    if serious:
        log.warning("%s: ignoring %d unexpected weights, e.g. %s", what, len(serious), serious[:3])
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items() if state[k].shape != v.shape]
    if wrong:
        raise ValueError(f"{what}: shape mismatch for {len(wrong)} weights, e.g. {wrong[:2]} (file, model)")
    return {k: state[k] for k in expected}


def assign(model: torch.nn.Module, tensors: Mapping[str, Tensor], what: str) -> None:
    """Put RAM tensors (already in their final dtype) into a meta-device `model`; eval mode, no grads."""
    model.load_state_dict(dict(tensors), strict=True, assign=True)
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise ValueError(f"{what}: tensors left uninitialised: {leftover[:3]}")
    model.eval().requires_grad_(False)


def unet_skeleton(config: dict):
    from diffusers import UNet2DConditionModel

    with _empty_weights():
        return UNet2DConditionModel.from_config(config)


def vae_skeleton(config: dict):
    from diffusers import AutoencoderKL

    with _empty_weights():
        return AutoencoderKL.from_config(config)


def text_encoder_skeleton(config: dict, with_projection: bool):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    with _empty_weights():
        return cls(CLIPTextConfig(**config))


def text_encoder_keys(model: torch.nn.Module, hf_state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Converted CLIP keys (no `text_model.`) renamed to what `model` expects.

    CLIPTextModelWithProjection keeps the `text_model.` wrapper; CLIPTextModel (transformers>=5.6) does not.
    """
    if not any(k.startswith("text_model.") for k in model.state_dict()):
        return dict(hf_state)
    keep = ("text_projection.weight", "text_model.")  # already in the module's layout (a converted-cache entry)
    return {(k if k.startswith(keep) else "text_model." + k): v for k, v in hf_state.items()}


def convert_unet(state: Mapping[str, Tensor], config: dict) -> dict[str, Tensor]:
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    return convert_ldm_unet_checkpoint(state, config)


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


def convert_clip(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """OpenAI-CLIP layout under `prefix` -> HF CLIPTextModel keys (without `text_model.`)."""
    out = {}
    for key, value in state.items():
        if key.startswith(prefix):
            out[key[len(prefix):].removeprefix("text_model.")] = value
    return out


def _openclip_layer_key(sub: str) -> str:
    for new, old in OPENCLIP_LAYER_NAMES:
        if sub.startswith(old + "."):
            return new + sub[len(old):]
    return sub  # unknown: passed through, so the module check reports it


def convert_openclip(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """OpenCLIP layout under `prefix` -> HF keys (without `text_model.`), as diffusers converts it.

    The fused attention in_proj is split into q/k/v by rows (views, no copy); the projection is transposed
    (SDXL) or dropped with the last block (SD2, see SD2_DROPPED_BLOCK).
    """
    width = int(state[prefix + "token_embedding.weight"].shape[1])
    sd2 = prefix == SD2_OPENCLIP_PREFIX
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if rest in _OPENCLIP_TOP:
            out[_OPENCLIP_TOP[rest]] = value
        elif rest == "text_projection":
            if not sd2:
                out["text_projection.weight"] = value.T
        elif rest.startswith("transformer.resblocks."):
            layer, sub = rest[len("transformer.resblocks."):].split(".", 1)
            if sd2 and int(layer) == SD2_DROPPED_BLOCK:
                continue
            base = f"encoder.layers.{layer}."
            if sub in ("attn.in_proj_weight", "attn.in_proj_bias"):
                kind = sub.rsplit("_", 1)[1]
                for i, proj in enumerate(("q_proj", "k_proj", "v_proj")):
                    out[f"{base}self_attn.{proj}.{kind}"] = value[i * width:(i + 1) * width]
            else:
                out[base + _openclip_layer_key(sub)] = value
    return out
