"""Offline loading of checkpoints into diffusers pipelines.

Single files (A1111/LDM layout, .safetensors or tensor-only .ckpt) are opened lazily (views of the mapped file),
their keys converted to diffusers' layout without reading data, the modules built on the meta device from the
shipped configs corrected by the tensor shapes (so tiny test checkpoints and full-size ones take the same path),
and every tensor then read once, in file order, straight into its final dtype (see converted.py and
tensor_file.py). With a converted cache (converted_cache.py) the second load of a file skips the conversion.
Diffusers folders use `from_pretrained(local_files_only=True)`. Nothing is fetched from any hub.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from modules.errors import EaselError, ModelLoadError
from modules.model_registry.checkpoints import CheckpointInfo
from modules.model_registry.clip_vocab import load_clip_tokenizer
from modules.model_registry.configs import TOKENIZERS, load_component_config
from modules.model_registry.converted import (
    ConvertedModel,
    assign_mapped,
    component_dtypes,
    convert_single_file,
    fill,
    prepare,
)
from modules.model_registry.converted_cache import ConvertedCache
from modules.model_registry.family import detect_prediction_type
from modules.model_registry.safe_load import RawCheckpoint, open_checkpoint

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


def assemble(model: ConvertedModel, modules: Mapping[str, torch.nn.Module], prediction: str, cache_dir: Path):
    """The diffusers pipeline of filled `modules`, with the offline tokenizers and the family's scheduler."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    family, flavours = model.family, TOKENIZERS[model.family]
    tokenizer = load_clip_tokenizer(cache_dir, flavour=flavours["tokenizer"])
    scheduler = _scheduler(family, prediction)
    if family in ("sd1", "sd2"):
        return StableDiffusionPipeline(vae=modules["vae"], text_encoder=modules["text_encoder"], tokenizer=tokenizer,
                                       unet=modules["unet"], scheduler=scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
    tokenizer_2 = load_clip_tokenizer(cache_dir, flavour=flavours["tokenizer_2"])
    return StableDiffusionXLPipeline(vae=modules["vae"], text_encoder=modules["text_encoder"],
                                     text_encoder_2=modules["text_encoder_2"], tokenizer=tokenizer,
                                     tokenizer_2=tokenizer_2, unet=modules["unet"], scheduler=scheduler,
                                     force_zeros_for_empty_prompt=True)


def build_pipeline_from_converted(model: ConvertedModel, *, dtypes: Mapping[str, torch.dtype], cache_dir: Path,
                                  yaml_text: str | None = None, mapped: bool = False):
    """(pipeline on CPU, family, prediction_type, the prepared model, the modules) from a converted (lazy) model.

    `mapped`: the tensors are already in `dtypes` in a file Easel owns; map them instead of reading them.
    """
    modules, prepared = prepare(model)
    if mapped and prepared.source is not None:
        assign_mapped(modules, prepared)
    else:
        fill(modules, prepared, dtypes)
    prediction = detect_prediction_type(model.family, {}, yaml_text=yaml_text, hint=model.file_prediction)
    pipe = assemble(prepared, modules, prediction, Path(cache_dir))
    return pipe, model.family, prediction, prepared, modules


def build_pipeline_from_state(raw: RawCheckpoint, *, dtype: torch.dtype, cache_dir: Path,
                              yaml_text: str | None = None,
                              dtypes: Mapping[str, torch.dtype] | None = None) -> tuple[object, str, str]:
    """(pipeline on CPU, family, prediction_type) from the (lazy or in-memory) tensors of an LDM single file."""
    pipe, family, prediction, _, _ = build_pipeline_from_converted(
        convert_single_file(raw), dtypes=component_dtypes(dtype, dtypes), cache_dir=cache_dir, yaml_text=yaml_text)
    return pipe, family, prediction


def _load_single_file(path: Path, dtypes: Mapping[str, torch.dtype], cache_dir: Path, yaml_text: str | None,
                      converted_cache: ConvertedCache | None) -> tuple[object, str, str, dict]:
    started = time.perf_counter()
    found = converted_cache.lookup(path, dtypes) if converted_cache is not None else None
    if found is not None:
        cached, exact = found
        try:
            pipe, family, prediction, _, _ = build_pipeline_from_converted(
                cached, dtypes=dtypes, cache_dir=cache_dir, yaml_text=yaml_text, mapped=exact)
        finally:
            if cached.source is not None:
                cached.source.close()
        return pipe, family, prediction, {"converted_cache": "hit", "mapped": exact,
                                          "read_seconds": time.perf_counter() - started}
    raw = open_checkpoint(path)
    try:
        pipe, family, prediction, prepared, modules = build_pipeline_from_converted(
            convert_single_file(raw), dtypes=dtypes, cache_dir=cache_dir, yaml_text=yaml_text)
    finally:
        if raw.source is not None:
            raw.source.close()
    extra: dict = {"converted_cache": "off" if converted_cache is None else "miss",
                   "read_seconds": time.perf_counter() - started}
    if converted_cache is not None:
        converted_cache.store(path, prepared, modules, dtypes)
    return pipe, family, prediction, extra


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


def load_pipeline(info: CheckpointInfo, *, device: torch.device, dtype: torch.dtype, cache_dir: Path,
                  dtypes: Mapping[str, torch.dtype] | None = None,
                  converted_cache: ConvertedCache | None = None) -> LoadedModel:
    """Load `info` fully offline into a pipeline on `device`; errors -> ModelLoadError.

    Each component is read straight into `dtypes[component]` (default: `dtype`), so nothing is cast twice.
    """
    set_offline_env()
    start = time.perf_counter()
    path = Path(info.filename)
    per_component = component_dtypes(dtype, dtypes)
    extra: dict = {}
    try:
        if info.is_diffusers_dir:
            pipe, family, prediction = _load_diffusers_dir(path, dtype)
            _cast_components(pipe, per_component)
        else:
            pipe, family, prediction, extra = _load_single_file(path, per_component, Path(cache_dir),
                                                                _read_yaml(info), converted_cache)
        pipe.to(torch.device(device))
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
    except EaselError:
        raise
    except (ValueError, KeyError, RuntimeError, OSError, TypeError, IndexError) as exc:
        raise ModelLoadError(f"Cannot load checkpoint '{info.title}' ({path}): {exc}",
                             field="sd_model_checkpoint") from exc
    seconds = time.perf_counter() - start
    log.info("Loaded %s checkpoint %s (%s, %s, %s) in %.2fs%s", family, info.title, prediction,
             _dtype_summary(per_component), device, seconds,
             f" (converted cache: {extra['converted_cache']})" if "converted_cache" in extra else "")
    return LoadedModel(pipe=pipe, family=family, info=info, prediction_type=prediction, load_seconds=seconds,
                       extra=extra)


def _cast_components(pipe, dtypes: Mapping[str, torch.dtype]) -> None:
    for name, dtype in dtypes.items():
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module) and next(module.parameters()).dtype != dtype:
            module.to(dtype=dtype)


def _dtype_summary(dtypes: Mapping[str, torch.dtype]) -> str:
    names = {str(d).removeprefix("torch.") for d in dtypes.values()}
    if len(names) == 1:
        return names.pop()
    return ",".join(f"{k}={str(v).removeprefix('torch.')}" for k, v in dtypes.items() if k != "text_encoder_2")
