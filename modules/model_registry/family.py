"""Architecture detection from single-file (LDM layout) state-dict keys and shapes."""
from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

UNET = "model.diffusion_model."
SD1_CLIP = "cond_stage_model.transformer."
SD2_OPENCLIP = "cond_stage_model.model."
SDXL_CLIP = "conditioner.embedders.0.transformer."
SDXL_OPENCLIP = "conditioner.embedders.1.model."
SDXL_REFINER_OPENCLIP = "conditioner.embedders.0.model."


def _has_prefix(keys, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in keys)


def detect_family(state: Mapping[str, Tensor]) -> str | None:
    """Return "sd1", "sd2", "sdxl" (or "sdxl_refiner"), or None when the keys match no known layout.

    - sdxl: `conditioner.embedders.0/1.*` text encoders and the UNet's `label_emb` (added time ids)
    - sd2:  OpenCLIP text encoder under `cond_stage_model.model.*` (context dim 1024 at full size)
    - sd1:  OpenAI CLIP text encoder under `cond_stage_model.transformer.*` (context dim 768 at full size)
    Falls back to the UNet cross-attention width (768 / 1024 / 2048) when no text encoder is present.
    """
    keys = list(state.keys())
    if _has_prefix(keys, SDXL_OPENCLIP) or _has_prefix(keys, SDXL_CLIP):
        return "sdxl"
    if _has_prefix(keys, SDXL_REFINER_OPENCLIP):
        return "sdxl_refiner"
    if _has_prefix(keys, SD2_OPENCLIP):
        return "sd2"
    if _has_prefix(keys, SD1_CLIP):
        return "sd1"
    if UNET + "label_emb.0.0.weight" in state:
        return "sdxl"
    width = context_dim(state)
    return {768: "sd1", 1024: "sd2", 2048: "sdxl"}.get(width) if width else None


def context_dim(state: Mapping[str, Tensor]) -> int | None:
    """Cross-attention context width from the first `attn2.to_k` weight of the UNet, if any."""
    for key, value in state.items():
        if key.startswith(UNET) and key.endswith("attn2.to_k.weight"):
            return int(value.shape[1])
    return None


def is_inpainting(state: Mapping[str, Tensor]) -> bool:
    weight = state.get(UNET + "input_blocks.0.0.weight")
    return weight is not None and weight.shape[1] == 9


def detect_prediction_type(
    family: str, state: Mapping[str, Tensor], *, yaml_text: str | None = None,
    hint: str | None = None, global_step: int | None = None,
) -> str:
    """"epsilon" or "v_prediction", in this order of evidence:

    1. an A1111-style `.yaml` beside the checkpoint (`parameterization: "v"` means v_prediction);
    2. a hint stored by the tiny writer (`easel_arch.prediction_type`);
    3. a `v_pred` marker key in the state dict (SDXL v-pred fine-tunes, as A1111 checks);
    4. SD2.x: diffusers' heuristic, `global_step == 875000` is the 512-base (epsilon) model, anything else
       is assumed to be a 768-v model (v_prediction). SD2-base files saved without `global_step` (e.g.
       most .safetensors) are therefore treated as v_prediction: put a `.yaml` beside them to override;
    5. everything else: epsilon.
    """
    if yaml_text is not None:
        return "v_prediction" if _yaml_says_v(yaml_text) else "epsilon"
    if hint in ("epsilon", "v_prediction"):
        return hint
    if "v_pred" in state:
        return "v_prediction"
    if family == "sd2":
        return "epsilon" if global_step == 875000 else "v_prediction"
    return "epsilon"


def _yaml_says_v(text: str) -> bool:
    import yaml

    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return 'parameterization: "v"' in text or "parameterization: v" in text
    params = (doc.get("model") or {}).get("params") or {} if isinstance(doc, dict) else {}
    return params.get("parameterization") == "v"
