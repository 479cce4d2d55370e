"""A single-file checkpoint converted to diffusers keys and configs, still lazy, and the modules built from it.

`convert_single_file` does all the key work on lazy tensors (no data read). `prepare` builds the modules on
the meta device and keeps exactly the tensors they take (checked, no data read either). `fill` reads those
tensors into RAM in one pass in file order, each cast once to its component's dtype, and assigns them. The
converted cache (converted_cache.py) stores a prepared `ConvertedModel` and hands it back on the next load.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from modules.model_registry import arch
from modules.model_registry import components as comp
from modules.model_registry.family import (
    SD1_CLIP,
    SD2_OPENCLIP,
    SDXL_CLIP,
    SDXL_OPENCLIP,
    detect_family,
    detect_prediction_type,
)
from modules.model_registry.safe_load import RawCheckpoint
from modules.model_registry.tensor_file import SafetensorsFile, materialize
from modules.model_registry.tiny import ARCH_METADATA_KEY

COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")


@dataclass
class ConvertedModel:
    family: str  # "sd1" | "sd2" | "sdxl"
    file_prediction: str  # what the file itself says (hints, v_pred key, global_step); a .yaml overrides it
    configs: dict[str, dict]  # component -> diffusers config (UNet, VAE) or CLIPTextConfig kwargs
    tensors: dict[str, dict[str, Tensor]]  # component -> {module state_dict key: lazy tensor}
    source: SafetensorsFile | None = field(default=None, repr=False)  # the file the views belong to


def _hints(raw: RawCheckpoint) -> dict:
    text = raw.metadata.get(ARCH_METADATA_KEY)
    if not text:
        return {}
    try:
        hints = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid '{ARCH_METADATA_KEY}' metadata: {exc}") from exc
    return hints if isinstance(hints, dict) else {}


def convert_single_file(raw: RawCheckpoint) -> ConvertedModel:
    """Diffusers keys and configs for the LDM tensors of `raw` (lazy in, lazy out)."""
    state, hints = raw.tensors, _hints(raw)
    family = detect_family(state)
    if family not in ("sd1", "sd2", "sdxl"):
        raise ValueError(f"unrecognised architecture ({family or 'no known text encoder / UNet keys'}); "
                         "supported: SD1.x, SD2.x, SDXL base")
    prediction = detect_prediction_type(family, state, hint=hints.get("prediction_type"),
                                        global_step=raw.global_step)
    configs: dict[str, dict] = {}
    tensors: dict[str, dict[str, Tensor]] = {}
    configs["unet"] = arch.infer_unet_config(state, family, hints.get("unet"))
    tensors["unet"] = comp.convert_unet(state, configs["unet"])
    vae_state = comp.vae_subset(state)
    if not vae_state:
        raise ValueError("no VAE weights (first_stage_model.*) in the file")
    configs["vae"] = arch.infer_vae_config(vae_state, family, hints.get("vae"))
    tensors["vae"] = comp.convert_vae(vae_state, configs["vae"])
    if family == "sd1":
        encoders = {"text_encoder": comp.convert_clip(state, SD1_CLIP)}
    elif family == "sd2":
        encoders = {"text_encoder": comp.convert_openclip(state, SD2_OPENCLIP)}
    else:
        encoders = {"text_encoder": comp.convert_clip(state, SDXL_CLIP),
                    "text_encoder_2": comp.convert_openclip(state, SDXL_OPENCLIP)}
    for name, hf_state in encoders.items():
        configs[name] = arch.infer_clip_config(hf_state, family, name, hints.get(name))
        tensors[name] = hf_state
    return ConvertedModel(family, prediction, configs, tensors, source=getattr(raw, "source", None))


def skeleton(name: str, config: dict) -> torch.nn.Module:
    """The meta-device module of component `name`."""
    if name == "unet":
        return comp.unet_skeleton(config)
    if name == "vae":
        return comp.vae_skeleton(config)
    return comp.text_encoder_skeleton(config, with_projection=name == "text_encoder_2")


def prepare(converted: ConvertedModel) -> tuple[dict[str, torch.nn.Module], ConvertedModel]:
    """(meta modules, the model trimmed to the tensors those modules take under their own keys)."""
    modules: dict[str, torch.nn.Module] = {}
    kept: dict[str, dict[str, Tensor]] = {}
    for name in COMPONENTS:
        if name not in converted.configs:
            continue
        module = skeleton(name, converted.configs[name])
        state = converted.tensors[name]
        if name.startswith("text_encoder"):
            state = comp.text_encoder_keys(module, state)
        kept[name] = comp.select_weights(module, state, type(module).__name__)
        modules[name] = module
    trimmed = ConvertedModel(converted.family, converted.file_prediction, dict(converted.configs), kept,
                             source=converted.source)
    return modules, trimmed


def fill(modules: Mapping[str, torch.nn.Module], model: ConvertedModel, dtypes: Mapping[str, torch.dtype]) -> None:
    """Read every tensor of `model` once, in file order, cast once, and assign it into `modules`."""
    items = [(f"{name}/{key}", tensor, dtypes[name]) for name, state in model.tensors.items()
             for key, tensor in state.items()]
    loaded = materialize(items, model.source)
    for name, module in modules.items():
        prefix = name + "/"
        own = {key[len(prefix):]: loaded.pop(key) for key in [k for k in loaded if k.startswith(prefix)]}
        comp.assign(module, own, type(module).__name__)


def assign_mapped(modules: Mapping[str, torch.nn.Module], model: ConvertedModel) -> None:
    """Assign the tensors of `model`'s source file as they are (its own dtypes), each in its own private mapping."""
    mapped = model.source.mapped()  # type: ignore[union-attr]
    for name, module in modules.items():
        comp.assign(module, {key: mapped[f"{name}/{key}"] for key in model.tensors[name]}, type(module).__name__)


def component_dtypes(dtype: torch.dtype, overrides: Mapping[str, torch.dtype] | None = None) -> dict[str, torch.dtype]:
    """{component: dtype}: `dtype` everywhere unless `overrides` names the component."""
    return {name: (overrides or {}).get(name, dtype) for name in COMPONENTS}
