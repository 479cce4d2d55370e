"""Loading ControlNet files offline into diffusers `ControlNetModel`s, and keeping the recent ones in RAM.

The family (SD1.x, SD2.x, SDXL) is read from the keys: SDXL ControlNets have the added (text_time) embedding,
SD2.x ones linear transformer projections (1024-wide context), SD1.x ones convolutional projections. The config
comes from the folder shipped for the family (configs/sd15, sd21, sdxl: the published ControlNetModel configs);
when the tensor shapes differ from it (tiny test models, the SDXL "mid"/"small" variants), the shape-derived
numbers replace the shipped ones in a config folder written under the cache dir. Weights are read with the
safe loader (no pickled code), converted where diffusers 0.42.1 cannot (its converter drops the SDXL
`label_emb` of lllyasviel-layout files), then loaded with `ControlNetModel.from_single_file(..., config=<dir>)`
(`original_config=` is broken in that version).

Cache rules, as for checkpoints (modules/engine/model_manager.py): at most `control_net_model_cache_size`
models stay loaded (least recently used out first), and before a load the least recently used go while free
RAM would fall under `--min-ram-reserved`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from lib_controlnet.models import ModelEntry
from modules.errors import ModelLoadError

logger = logging.getLogger(__name__)
CONFIGS = Path(__file__).resolve().parent / "configs"
FAMILY_DIRS = {"sd1": "sd15", "sd2": "sd21", "sdxl": "sdxl"}
PREFIX = "control_model."
ARCH_KEY = "easel_arch"  # tiny test models: numbers the shapes cannot tell (as tiny checkpoints carry them)


@dataclass
class LoadedControlNet:
    model: torch.nn.Module  # diffusers ControlNetModel
    family: str
    title: str
    global_average_pooling: bool  # shuffle models: residuals averaged over space, on the prompt rows only
    bytes: int


def _indices(keys, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in keys if (m := rx.match(k))})


def read_state(entry: ModelEntry) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors without the `control_model.` prefix, the easel_arch hints or {})."""
    from modules.model_registry.safe_load import load_checkpoint

    raw = load_checkpoint(entry.weights)
    state = {k[len(PREFIX):] if k.startswith(PREFIX) else k: v for k, v in raw.tensors.items()}
    hints = {}
    if raw.metadata.get(ARCH_KEY):
        try:
            hints = json.loads(raw.metadata[ARCH_KEY]).get("controlnet", {})
        except (ValueError, AttributeError):
            hints = {}
    return state, hints


def is_diffusers_layout(state: dict) -> bool:
    return "controlnet_cond_embedding.conv_in.weight" in state


def detect_family(state: dict) -> str:
    """"sd1", "sd2" or "sdxl"; ModelLoadError for files that are not ControlNets (T2I-Adapter, Control-LoRA, ...)."""
    if not ("input_hint_block.0.weight" in state or is_diffusers_layout(state)):
        raise ModelLoadError("not a ControlNet (no input_hint_block / controlnet_cond_embedding weights); "
                             "T2I-Adapters, Control-LoRAs, IP-Adapters and ControlLLLite files are not supported",
                             field="model")
    if "label_emb.0.0.weight" in state or "add_embedding.linear_1.weight" in state:
        return "sdxl"
    proj = next((v for k, v in state.items() if k.endswith(".proj_in.weight")), None)
    return "sd2" if proj is not None and proj.ndim == 2 else "sd1"


def to_diffusers(state: dict, config: dict) -> dict:
    """lllyasviel layout -> diffusers keys (diffusers' converter, plus the SDXL added embedding it leaves out)."""
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    converted = convert_controlnet_checkpoint(state, config)
    for old, new in (("label_emb.0.0", "add_embedding.linear_1"), ("label_emb.0.2", "add_embedding.linear_2")):
        for kind in ("weight", "bias"):
            if f"{old}.{kind}" in state:
                converted[f"{new}.{kind}"] = state[f"{old}.{kind}"]
    return converted


def derive_config(state: dict, family: str, hints: dict) -> dict:
    """The shipped config of `family`, with every number the diffusers-layout tensors reveal put in."""
    cfg = json.loads((CONFIGS / FAMILY_DIRS[family] / "config.json").read_text(encoding="utf-8"))
    keys = list(state)
    blocks = _indices(keys, r"down_blocks\.(\d+)\.")
    channels = [int(state[f"down_blocks.{b}.resnets.0.conv2.weight"].shape[0]) for b in blocks]
    layers = len(_indices(keys, rf"down_blocks\.{blocks[0]}\.resnets\.(\d+)\."))
    types, depth = [], []
    for b in blocks:
        attn = _indices(keys, rf"down_blocks\.{b}\.attentions\.0\.transformer_blocks\.(\d+)\.")
        types.append("CrossAttnDownBlock2D" if attn else "DownBlock2D")
        depth.append(len(attn) if attn else 1)
    same = channels == cfg["block_out_channels"] and types == cfg["down_block_types"]
    embedding = [int(state["controlnet_cond_embedding.conv_in.weight"].shape[0])]
    embedding += [int(state[f"controlnet_cond_embedding.blocks.{i}.weight"].shape[0])
                  for i in _indices(keys, r"controlnet_cond_embedding\.blocks\.(\d+)\.weight") if i % 2 == 1]
    cfg.update(block_out_channels=channels, layers_per_block=layers, down_block_types=types,
               in_channels=int(state["conv_in.weight"].shape[1]),
               conditioning_channels=int(state["controlnet_cond_embedding.conv_in.weight"].shape[1]),
               conditioning_embedding_out_channels=embedding)
    attn_k = next((v for k, v in state.items() if k.endswith("attn2.to_k.weight")), None)
    if attn_k is not None:
        cfg["cross_attention_dim"] = int(attn_k.shape[1])
    proj = next((v for k, v in state.items() if k.endswith(".proj_in.weight")), None)
    if proj is not None:
        cfg["use_linear_projection"] = proj.ndim == 2
    if "transformer_layers_per_block" in cfg or any(d != 1 for d in depth):
        cfg["transformer_layers_per_block"] = depth if len(set(depth)) > 1 else depth[0]
    if not any(k.startswith("mid_block.attentions.") for k in keys):
        cfg["mid_block_type"] = "UNetMidBlock2D"
    if "add_embedding.linear_1.weight" in state:
        cfg["projection_class_embeddings_input_dim"] = int(state["add_embedding.linear_1.weight"].shape[1])
    if not same and "attention_head_dim" not in hints:
        cfg["attention_head_dim"] = 8 if family == "sd1" else [max(1, c // 64) for c in channels]
    for name in ("attention_head_dim", "norm_num_groups", "addition_time_embed_dim", "upcast_attention"):
        if name in hints:
            cfg[name] = hints[name]
    return cfg


def config_dir(cfg: dict, family: str, cache_dir: Path) -> Path:
    """The shipped folder when `cfg` is the shipped config, else a folder under the cache dir holding it."""
    shipped = CONFIGS / FAMILY_DIRS[family]
    if cfg == json.loads((shipped / "config.json").read_text(encoding="utf-8")):
        return shipped
    text = json.dumps(cfg, sort_keys=True, indent=1)
    target = Path(cache_dir) / "controlnet-configs" / hashlib.sha256(text.encode()).hexdigest()[:16]
    if not (target / "config.json").is_file():
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f".config.{threading.get_ident()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target / "config.json")
    return target


@contextlib.contextmanager
def _quiet_casts() -> Iterator[None]:
    """diffusers warns about fp32-kept modules on every dtype cast, even when the model keeps none."""
    log = logging.getLogger("diffusers.models.modeling_utils")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def load(entry: ModelEntry, *, device: torch.device, dtype: torch.dtype, cache_dir: Path) -> LoadedControlNet:
    """Load one ControlNet offline. ModelLoadError (422) for files that cannot be read or are not ControlNets."""
    from modules.model_registry.init_lock import MODULE_INIT_LOCK

    started = time.perf_counter()
    try:
        # diffusers builds on the meta device (accelerate patches module creation process-wide meanwhile)
        with MODULE_INIT_LOCK, _quiet_casts():
            model, family = _build(entry, dtype, cache_dir)
    except ModelLoadError:
        raise
    except (ValueError, KeyError, RuntimeError, OSError, TypeError, IndexError, NotImplementedError) as exc:
        raise ModelLoadError(f"cannot load ControlNet model {entry.title} ({entry.path.name}): {exc}",
                             field="model") from exc
    param = next(model.parameters())
    if param.device != device or param.dtype != dtype:
        with _quiet_casts():
            model = model.to(device=device, dtype=dtype)
    model = model.eval().requires_grad_(False)
    size = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    logger.info("ControlNet: loaded %s (%s, %.1f MiB) in %.2fs", entry.title, family, size / 2**20,
                time.perf_counter() - started)
    return LoadedControlNet(model, family, entry.title, "shuffle" in entry.stem.lower(), size)


def _build(entry: ModelEntry, dtype: torch.dtype, cache_dir: Path):
    """(ControlNetModel on the CPU in `dtype`, family)."""
    from diffusers import ControlNetModel

    if entry.is_diffusers_dir:
        model = ControlNetModel.from_pretrained(str(entry.path), local_files_only=True, torch_dtype=dtype)
        config = model.config
        family = "sdxl" if config.addition_embed_type == "text_time" else (
            "sd2" if config.use_linear_projection else "sd1")
        return model, family
    state, hints = read_state(entry)
    family = detect_family(state)
    if not is_diffusers_layout(state):
        shipped = json.loads((CONFIGS / FAMILY_DIRS[family] / "config.json").read_text(encoding="utf-8"))
        state = to_diffusers(state, {**shipped, "layers_per_block": _layers(state)})
    folder = config_dir(derive_config(state, family, hints), family, cache_dir)
    model = ControlNetModel.from_single_file(state, config=str(folder), local_files_only=True, torch_dtype=dtype)
    return model, family


def _layers(state: dict) -> int:
    """layers_per_block of an lllyasviel-layout file (the converter needs it): input blocks per level - 1."""
    inputs = _indices(state, r"input_blocks\.(\d+)\.")
    ops = _indices(state, r"input_blocks\.(\d+)\.0\.op\.weight")
    levels = len(ops) + 1
    return (len(inputs) - 1 - len(ops)) // levels


class ControlNetCache:
    """Loaded ControlNets, least recently used first; keyed by file, its mtime, device and dtype."""

    def __init__(self, *, size_fn, reserve_bytes_fn, free_ram_fn=None):
        from modules.engine.model_manager import free_ram_bytes

        self._size_fn = size_fn  # () -> int: control_net_model_cache_size (0 = do not keep)
        self._reserve_fn = reserve_bytes_fn  # () -> int: --min-ram-reserved in bytes
        self._free_ram = free_ram_fn or free_ram_bytes
        self._items: OrderedDict[tuple, LoadedControlNet] = OrderedDict()
        self._lock = threading.RLock()

    def get(self, entry: ModelEntry, *, device: torch.device, dtype: torch.dtype,
            cache_dir: Path) -> LoadedControlNet:
        key = (str(entry.weights), entry.weights.stat().st_mtime_ns, str(device), str(dtype))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            limit = max(0, int(self._size_fn()))
            while self._items and len(self._items) >= max(limit, 1):
                self._evict("cache size")
            needed = entry.weights.stat().st_size * (2 if dtype == torch.float32 else 1)
            while self._items and self._free_ram() - needed < self._reserve_fn():
                self._evict("free RAM under --min-ram-reserved")
            loaded = load(entry, device=device, dtype=dtype, cache_dir=cache_dir)
            if limit > 0:
                self._items[key] = loaded
            return loaded

    def _evict(self, why: str) -> None:
        import gc

        _key, entry = self._items.popitem(last=False)
        logger.info("ControlNet: released %s (%s)", entry.title, why)
        del entry
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def titles(self) -> list[str]:
        with self._lock:
            return [e.title for e in self._items.values()]

    def clear(self) -> None:
        with self._lock:
            while self._items:
                self._evict("cleared")
