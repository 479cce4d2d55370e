"""LoRA / LoCon / LoHa / LoKr weight patching for diffusers pipelines (kohya / A1111 key layout).

A network file maps kohya module names (`lora_unet_<path>`, `lora_te_<path>`, SDXL `lora_te1_` / `lora_te2_`;
the path is the module's dotted path with "." -> "_", in the diffusers or the LDM layout) to low-rank factors.
`LoraApplier.apply` adds `multiplier * delta * scale` to the touched weights and keeps the original tensors;
`restore` copies them back, so the weights are bit-identical afterwards.
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from modules.engine.optimize import sync_fused_qkv
from modules.model_registry import ldm_convert
from modules.model_registry.safe_load import load_checkpoint

logger = logging.getLogger(__name__)
_FACTOR_SUFFIXES = ("lora_down.weight", "lora_up.weight", "lora_mid.weight", "alpha", "hada_w1_a", "hada_w1_b",
                    "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2", "lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2",
                    "lokr_w2_a", "lokr_w2_b", "lokr_t2", "dora_scale")


@dataclass
class ParsedNetwork:
    """A network file split by module: `modules[kohya name][factor] = tensor`, plus keys we do not understand."""

    modules: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    unknown_keys: list[str] = field(default_factory=list)


def parse_network(state: dict[str, Tensor]) -> ParsedNetwork:
    """Group `<module>.<factor>` keys; tensors are kept as float32 on the CPU."""
    parsed = ParsedNetwork()
    for key, tensor in state.items():
        for suffix in _FACTOR_SUFFIXES:
            if key.endswith("." + suffix):
                module = key[: -len(suffix) - 1]
                parsed.modules.setdefault(module, {})[suffix] = tensor.detach().float().cpu()
                break
        else:
            parsed.unknown_keys.append(key)
    return parsed


def load_network_file(path: Path) -> ParsedNetwork:
    """Read a .safetensors / .pt / .ckpt network (pickles restricted to tensors) and parse it."""
    return parse_network(load_checkpoint(Path(path)).tensors)


def network_type(factors: dict[str, Tensor]) -> str:
    if "lora_down.weight" in factors and "lora_up.weight" in factors:
        return "lora"
    if all(k in factors for k in ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b")):
        return "loha"
    if ("lokr_w1" in factors or "lokr_w1_a" in factors) and ("lokr_w2" in factors or "lokr_w2_a" in factors):
        return "lokr"
    return "unsupported"


def _scale(factors: dict[str, Tensor], rank: int | None) -> float:
    alpha = factors.get("alpha")
    if alpha is None or not rank:
        return 1.0
    return float(alpha.item()) / rank


def compute_delta(factors: dict[str, Tensor], shape: torch.Size) -> Tensor:
    """The weight update (already multiplied by alpha / rank) for a target weight of `shape`.

    Raises:
        ValueError: unsupported factor set (e.g. Tucker-decomposed LoHa) or shapes that do not fit.
    """
    kind = network_type(factors)
    if kind == "lora":
        down, up = factors["lora_down.weight"], factors["lora_up.weight"]
        if "lora_mid.weight" in factors:  # LoCon with a Tucker core: down 1x1, mid kxk, up 1x1
            delta = torch.einsum("nmkl,in,mj->ijkl", factors["lora_mid.weight"], up.flatten(1), down.flatten(1))
        else:
            delta = up.flatten(1) @ down.flatten(1)
        return delta.reshape(shape) * _scale(factors, down.shape[0])
    if kind == "loha":
        if "hada_t1" in factors or "hada_t2" in factors:
            raise ValueError("Tucker-decomposed LoHa is not supported")
        w1 = factors["hada_w1_a"] @ factors["hada_w1_b"]
        w2 = factors["hada_w2_a"] @ factors["hada_w2_b"]
        return (w1 * w2).reshape(shape) * _scale(factors, factors["hada_w1_b"].shape[0])
    if kind == "lokr":
        if "lokr_t2" in factors:
            raise ValueError("Tucker-decomposed LoKr is not supported")
        rank = None
        w1 = factors.get("lokr_w1")
        if w1 is None:
            w1, rank = factors["lokr_w1_a"] @ factors["lokr_w1_b"], factors["lokr_w1_b"].shape[0]
        w2 = factors.get("lokr_w2")
        if w2 is None:
            w2, rank = factors["lokr_w2_a"] @ factors["lokr_w2_b"].flatten(1), factors["lokr_w2_b"].shape[0]
        if len(shape) == 4:  # LoKr on a conv: w2 carries the kernel
            w2 = w2.reshape(w2.shape[0], -1, *shape[2:]) if w2.dim() == 2 else w2
            w1 = w1[:, :, None, None]
        return torch.kron(w1, w2).reshape(shape) * _scale(factors, rank)
    raise ValueError(f"unsupported network type (keys {sorted(factors)})")


# --------------------------------------------------------------------------------------------------- module lookup
def _kohya(path: str) -> str:
    return path.replace(".", "_")


def build_target_map(pipe: object) -> dict[str, tuple[nn.Module, bool]]:
    """kohya module name -> (Linear/Conv2d module, is_text_encoder) for every patchable layer of the pipe."""
    targets: dict[str, tuple[nn.Module, bool]] = {}
    unet = pipe.unet
    config = unet.config
    lpb = config["layers_per_block"]
    up_has_attn = ["CrossAttn" in t for t in config["up_block_types"]]
    for name, module in unet.named_modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        targets["lora_unet_" + _kohya(name)] = (module, False)
        if isinstance(lpb, int):
            try:
                ldm = ldm_convert._unet_key(name + ".weight", lpb, up_has_attn).removesuffix(".weight")
            except (KeyError, IndexError, ValueError):
                continue
            targets.setdefault("lora_unet_" + _kohya(ldm), (module, False))
    encoders = [("text_encoder", "lora_te_" if getattr(pipe, "text_encoder_2", None) is None else "lora_te1_"),
                ("text_encoder_2", "lora_te2_")]
    for attr, prefix in encoders:
        encoder = getattr(pipe, attr, None)
        if encoder is None:
            continue
        for name, module in encoder.named_modules():
            if isinstance(module, nn.Linear):
                path = name.removeprefix("text_model.")
                targets[prefix + "text_model_" + _kohya(path)] = (module, True)
    return targets


@dataclass
class ActiveNetwork:
    """One network to apply: its parsed tensors and multipliers (`te` for text encoders, `unet` for the UNet)."""

    name: str
    parsed: ParsedNetwork
    te: float = 1.0
    unet: float = 1.0


class LoraApplier:
    """Patches weights in place and restores them exactly; caches parsed files (LRU by path + mtime/size)."""

    def __init__(self, cache_size: int = 16):
        self.cache_size = cache_size
        self._files: OrderedDict[tuple[str, tuple[float, int]], ParsedNetwork] = OrderedDict()
        self._targets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._backup: dict[nn.Module, Tensor] = {}
        self._lock = threading.RLock()
        self.load_count = 0  # files read from disk (for tests of the cache)
        self._patched_pipe: weakref.ref | None = None  # where the backups belong (for fused QKV weights)

    def load(self, path: Path, stamp: tuple[float, int]) -> ParsedNetwork:
        """The parsed network of `path`, from the cache while `stamp` (mtime, size) is unchanged."""
        key = (str(path), stamp)
        with self._lock:
            if key in self._files:
                self._files.move_to_end(key)
                return self._files[key]
        parsed = load_network_file(path)
        self.load_count += 1
        with self._lock:
            for old in [k for k in self._files if k[0] == key[0]]:
                del self._files[old]
            self._files[key] = parsed
            while len(self._files) > self.cache_size:
                self._files.popitem(last=False)
        return parsed

    def targets(self, pipe: object) -> dict[str, tuple[nn.Module, bool]]:
        with self._lock:
            found = self._targets.get(pipe.unet)
            if found is None:
                found = build_target_map(pipe)
                self._targets[pipe.unet] = found
            return found

    @torch.no_grad()
    def apply(self, pipe: object, networks: list[ActiveNetwork]) -> dict[str, str]:
        """Add every network's deltas; returns {network name: problem} for modules that could not be applied."""
        targets = self.targets(pipe)
        problems: dict[str, str] = {}
        with self._lock:
            for net in networks:
                missing = 0
                for key, factors in net.parsed.modules.items():
                    target = targets.get(key)
                    if target is None:
                        missing += 1
                        continue
                    module, is_te = target
                    multiplier = net.te if is_te else net.unet
                    if multiplier == 0:
                        continue
                    weight = module.weight
                    try:
                        delta = compute_delta(factors, weight.shape)
                    except (ValueError, RuntimeError) as exc:
                        problems[net.name] = str(exc).split("\n")[0]
                        continue
                    if module not in self._backup:
                        self._backup[module] = weight.detach().clone()
                    weight.add_((delta * multiplier).to(device=weight.device, dtype=weight.dtype))
                if missing:
                    logger.info("LoRA %s: %d module(s) did not match the model", net.name, missing)
            self._patched_pipe = weakref.ref(pipe)
            sync_fused_qkv(pipe, list(self._backup))
        return problems

    @torch.no_grad()
    def restore(self) -> None:
        """Copy every touched weight back from its backup (bit-exact)."""
        with self._lock:
            for module, original in self._backup.items():
                module.weight.copy_(original)
            pipe = self._patched_pipe() if self._patched_pipe is not None else None
            if pipe is not None:
                sync_fused_qkv(pipe, list(self._backup))
            self._backup.clear()

    @property
    def active(self) -> bool:
        return bool(self._backup)
