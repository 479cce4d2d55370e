"""Offline loading of checkpoints into diffusers pipelines.

Single files (A1111/LDM layout, .safetensors or tensor-only .ckpt) are converted with diffusers'
ldm->diffusers converters into components whose configs come from the shipped configs, corrected by the
tensor shapes (so tiny test checkpoints and full-size ones take the same path). Diffusers folders use
`from_pretrained(local_files_only=True)`. Nothing is fetched from any hub.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from modules.errors import EaselError, ModelLoadError
from modules.model_registry import arch
from modules.model_registry import components as comp
from modules.model_registry.checkpoints import CheckpointInfo
from modules.model_registry.clip_vocab import load_clip_tokenizer
from modules.model_registry.configs import TOKENIZERS, load_component_config
from modules.model_registry.family import (
    SD1_CLIP,
    SD2_OPENCLIP,
    SDXL_CLIP,
    SDXL_OPENCLIP,
    detect_family,
    detect_prediction_type,
)
from modules.model_registry.safe_load import RawCheckpoint, load_checkpoint
from modules.model_registry.tiny import ARCH_METADATA_KEY

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    pipe: object  # StableDiffusionPipeline | StableDiffusionXLPipeline
    family: str  # "sd1" | "sd2" | "sdxl"
    info: CheckpointInfo
    prediction_type: str  # "epsilon" | "v_prediction"
    load_seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def set_offline_env() -> None:
    """Make huggingface_hub / transformers / diffusers refuse network access for this process."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DIFFUSERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        os.environ.setdefault(name, "1")


def _hints(raw: RawCheckpoint) -> dict:
    text = raw.metadata.get(ARCH_METADATA_KEY)
    if not text:
        return {}
    try:
        hints = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid '{ARCH_METADATA_KEY}' metadata: {exc}") from exc
    return hints if isinstance(hints, dict) else {}


def _drop(state: dict, prefix: str) -> None:
    for key in [k for k in state if k.startswith(prefix)]:
        del state[key]


def _scheduler(family: str, prediction_type: str):
    import diffusers

    cfg = load_component_config(family, "scheduler")
    cls = getattr(diffusers, cfg["_class_name"])
    cfg["prediction_type"] = prediction_type
    return cls.from_config(cfg)


def _read_yaml(info: CheckpointInfo) -> str | None:
    if info.config is not None and Path(info.config).is_file():
        return Path(info.config).read_text(encoding="utf-8", errors="replace")
    return None


def build_pipeline_from_state(raw: RawCheckpoint, *, dtype: torch.dtype, cache_dir: Path,
                              yaml_text: str | None = None) -> tuple[object, str, str]:
    """(pipeline on CPU, family, prediction_type) from the tensors of an LDM single-file checkpoint.

    Consumes `raw.tensors`: converted entries are deleted from it as it goes, to keep peak memory down.
    """
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    state, hints = raw.tensors, _hints(raw)
    family = detect_family(state)
    if family not in ("sd1", "sd2", "sdxl"):
        raise ValueError(f"unrecognised architecture ({family or 'no known text encoder / UNet keys'}); "
                         "supported: SD1.x, SD2.x, SDXL base")
    prediction = detect_prediction_type(family, state, yaml_text=yaml_text, hint=hints.get("prediction_type"),
                                        global_step=raw.global_step)
    unet = comp.build_unet(state, arch.infer_unet_config(state, family, hints.get("unet")), dtype)
    _drop(state, comp.UNET_PREFIX)  # free the file's copy of what is now converted (lower peak memory)
    vae_state = comp.vae_subset(state)
    if not vae_state:
        raise ValueError("no VAE weights (first_stage_model.*) in the file")
    vae = comp.build_vae(vae_state, arch.infer_vae_config(vae_state, family, hints.get("vae")), dtype)
    del vae_state
    _drop(state, "first_stage_model.")
    tok_flavours = TOKENIZERS[family]
    tokenizer = load_clip_tokenizer(cache_dir, flavour=tok_flavours["tokenizer"])
    scheduler = _scheduler(family, prediction)
    if family in ("sd1", "sd2"):
        te_state = comp.convert_clip(state, SD1_CLIP) if family == "sd1" else comp.convert_openclip(state, SD2_OPENCLIP)
        te_cfg = arch.infer_clip_config(te_state, family, "text_encoder", hints.get("text_encoder"))
        text_encoder = comp.build_text_encoder(te_state, te_cfg, dtype, with_projection=False)
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    else:
        te_state = comp.convert_clip(state, SDXL_CLIP)
        te2_state = comp.convert_openclip(state, SDXL_OPENCLIP)
        te = comp.build_text_encoder(te_state, arch.infer_clip_config(te_state, family, "text_encoder",
                                                                      hints.get("text_encoder")), dtype, False)
        te2 = comp.build_text_encoder(te2_state, arch.infer_clip_config(te2_state, family, "text_encoder_2",
                                                                        hints.get("text_encoder_2")), dtype, True)
        tokenizer_2 = load_clip_tokenizer(cache_dir, flavour=tok_flavours["tokenizer_2"])
        pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te, text_encoder_2=te2, tokenizer=tokenizer,
                                         tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler,
                                         force_zeros_for_empty_prompt=True)
    return pipe, family, prediction


def _load_diffusers_dir(path: Path, dtype: torch.dtype) -> tuple[object, str, str]:
    from diffusers import DiffusionPipeline

    index = json.loads((path / "model_index.json").read_text(encoding="utf-8"))
    kwargs: dict = {"local_files_only": True, "dtype": dtype}
    if "safety_checker" in index:
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe = DiffusionPipeline.from_pretrained(str(path), **kwargs)
    if getattr(pipe, "text_encoder_2", None) is not None:  # SDXL, its inpainting and img2img pipelines too
        family = "sdxl"
    else:
        family = "sd2" if pipe.unet.config.cross_attention_dim == 1024 else "sd1"
    return pipe, family, pipe.scheduler.config.get("prediction_type", "epsilon")


def load_pipeline(info: CheckpointInfo, *, device: torch.device, dtype: torch.dtype, cache_dir: Path) -> LoadedModel:
    """Load `info` fully offline into a pipeline on `device` in `dtype`. Errors -> ModelLoadError."""
    set_offline_env()
    start = time.perf_counter()
    path = Path(info.filename)
    try:
        if info.is_diffusers_dir:
            pipe, family, prediction = _load_diffusers_dir(path, dtype)
        else:
            raw = load_checkpoint(path)
            pipe, family, prediction = build_pipeline_from_state(raw, dtype=dtype, cache_dir=Path(cache_dir),
                                                                 yaml_text=_read_yaml(info))
            del raw
        pipe.to(torch.device(device))
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
    except EaselError:
        raise
    except (ValueError, KeyError, RuntimeError, OSError, TypeError, IndexError) as exc:
        raise ModelLoadError(f"Cannot load checkpoint '{info.title}' ({path}): {exc}",
                             field="sd_model_checkpoint") from exc
    seconds = time.perf_counter() - start
    log.info("Loaded %s checkpoint %s (%s, %s, %s) in %.2fs", family, info.title, prediction, dtype, device, seconds)
    return LoadedModel(pipe=pipe, family=family, info=info, prediction_type=prediction, load_seconds=seconds)
