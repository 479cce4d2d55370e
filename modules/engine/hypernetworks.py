"""Hypernetworks as A1111 1.10 applies them (modules/hypernetworks/hypernetwork.py).

A hypernetwork file (.pt) maps context widths (320, 640, 768, 1024, 1280, ...) to a pair of small MLPs, one for the
attention keys and one for the values. In every attention layer of the UNet whose key/value input has one of those
widths (the text context of cross-attention, the hidden states of self-attention), the input is replaced by
`x + mlp(x) * multiplier` before `to_k` / `to_v`; several hypernetworks chain in prompt order. Easel hooks the
UNet's `to_k` / `to_v` with forward pre-hooks and removes them after the batch, so the model is untouched. Files
are read with torch's weights-only unpickler (no code runs); the MLPs are rebuilt with A1111's layer layout
(activation, layer norm and dropout positions), so A1111's state-dict keys load as they are.
"""
from __future__ import annotations

import inspect
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from modules.errors import ModelLoadError

logger = logging.getLogger(__name__)

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "linear": nn.Identity, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "elu": nn.ELU, "swish": nn.Hardswish,
    "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
}
_ACTIVATIONS.update({name.lower(): cls for name, cls in inspect.getmembers(torch.nn.modules.activation, inspect.isclass)
                     if cls.__module__ == "torch.nn.modules.activation" and name.lower() not in _ACTIVATIONS})
_OLD_KEYS = {"linear1.weight": "linear.0.weight", "linear1.bias": "linear.0.bias",
             "linear2.weight": "linear.1.weight", "linear2.bias": "linear.1.bias"}


def dropout_structure(layer_structure: list[float], use_dropout: bool, last_layer_dropout: bool) -> list[float]:
    """A1111 `parse_dropout_structure`: dropout after every hidden layer (0.3), the last one only if asked."""
    if not use_dropout:
        return [0.0] * len(layer_structure)
    return [0.0, *[0.3] * (len(layer_structure) - 3), 0.3 if last_layer_dropout else 0.0, 0.0]


class HypernetworkModule(nn.Module):
    """One MLP: `x + linear(x) * multiplier` (A1111's layer order, so its state-dict keys match)."""

    def __init__(self, dim: int, layer_structure: list[float], activation: str | None, layer_norm: bool,
                 activate_output: bool, dropouts: list[float]):
        super().__init__()
        if layer_structure[0] != 1 or layer_structure[-1] != 1:
            raise ValueError(f"layer structure must start and end with 1, got {layer_structure}")
        layers: list[nn.Module] = []
        last = len(layer_structure) - 2
        for i in range(len(layer_structure) - 1):
            layers.append(nn.Linear(int(dim * layer_structure[i]), int(dim * layer_structure[i + 1])))
            if activation not in (None, "linear") and (i < last or activate_output):
                if activation not in _ACTIVATIONS:
                    raise ValueError(f"unsupported activation function {activation!r}")
                layers.append(_ACTIVATIONS[activation]())
            if layer_norm:
                layers.append(nn.LayerNorm(int(dim * layer_structure[i + 1])))
            if dropouts[i + 1] > 0:
                layers.append(nn.Dropout(p=dropouts[i + 1]))
        self.linear = nn.Sequential(*layers)
        self.multiplier = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.linear(x) * self.multiplier


@dataclass
class Hypernetwork:
    """A loaded file: `layers[width] = (keys MLP, values MLP)`."""

    name: str
    layers: dict[int, tuple[HypernetworkModule, HypernetworkModule]] = field(default_factory=dict)
    step: int = 0
    sd_checkpoint_name: str | None = None

    def set_multiplier(self, multiplier: float) -> None:
        for pair in self.layers.values():
            for module in pair:
                module.multiplier = multiplier


def _read(path: Path) -> dict:
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        raise ModelLoadError(f"cannot read hypernetwork '{path.name}': {str(exc).splitlines()[0]}") from exc
    if not isinstance(state, dict):
        raise ModelLoadError(f"'{path.name}' is not a hypernetwork (no dict inside)")
    return state


def load_hypernetwork(path: Path, name: str | None = None) -> Hypernetwork:
    """Build a `Hypernetwork` from an A1111 .pt file (weights-only unpickling). Raises ModelLoadError."""
    path = Path(path)
    state = _read(path)
    structure = [float(v) for v in state.get("layer_structure", [1, 2, 1])]
    dropouts = state.get("dropout_structure")
    use_dropout = bool(dropouts is not None and any(dropouts)) or bool(state.get("use_dropout", False))
    if dropouts is None:
        dropouts = dropout_structure(structure, use_dropout, bool(state.get("last_layer_dropout", False)))
    dropouts = [float(v) for v in dropouts]
    options = dict(layer_structure=structure, activation=state.get("activation_func"),
                   layer_norm=bool(state.get("is_layer_norm", False)),
                   activate_output=bool(state.get("activate_output", True)), dropouts=dropouts)
    net = Hypernetwork(name=str(state.get("name") or name or path.stem), step=int(state.get("step", 0) or 0),
                       sd_checkpoint_name=state.get("sd_checkpoint_name"))
    try:
        for size, pair in state.items():
            if not isinstance(size, int):
                continue
            modules = []
            for sd in pair[:2]:
                module = HypernetworkModule(size, **options)
                fixed = OrderedDict((_OLD_KEYS.get(k, k), v) for k, v in sd.items())
                module.load_state_dict(fixed)
                modules.append(module.float().eval().requires_grad_(False))
            net.layers[size] = (modules[0], modules[1])
    except (ValueError, RuntimeError, KeyError, TypeError, IndexError) as exc:
        raise ModelLoadError(f"hypernetwork '{path.name}': {str(exc).splitlines()[0]}") from exc
    if not net.layers:
        raise ModelLoadError(f"hypernetwork '{path.name}' has no layers")
    return net


def _attention_modules(unet: nn.Module):
    for module in unet.modules():
        if all(isinstance(getattr(module, name, None), nn.Linear) for name in ("to_q", "to_k", "to_v")):
            yield module


class HypernetworkApplier:
    """Hooks the active hypernetworks into a UNet's attention inputs; caches loaded files by (path, mtime, size)."""

    def __init__(self, cache_size: int = 8):
        self.cache_size = cache_size
        self._files: OrderedDict[tuple[str, tuple[float, int]], Hypernetwork] = OrderedDict()
        self._hooks: list[torch.utils.hooks.RemovableHandle] = []
        self._lock = threading.RLock()
        self.load_count = 0

    def load(self, path: Path, stamp: tuple[float, int], name: str) -> Hypernetwork:
        key = (str(path), stamp)
        with self._lock:
            if key in self._files:
                self._files.move_to_end(key)
                return self._files[key]
        net = load_hypernetwork(path, name)
        self.load_count += 1
        with self._lock:
            for old in [k for k in self._files if k[0] == key[0]]:
                del self._files[old]
            self._files[key] = net
            while len(self._files) > self.cache_size:
                self._files.popitem(last=False)
        return net

    def apply(self, unet: nn.Module, active: list[tuple[Hypernetwork, float]]) -> None:
        """Chain `active` (hypernetwork, multiplier) into every attention layer's key and value inputs."""
        if not active:
            return
        device = next(unet.parameters()).device
        for net, multiplier in active:
            net.set_multiplier(multiplier)
            for pair in net.layers.values():
                for module in pair:
                    module.to(device)
        nets = [net for net, _ in active]
        with self._lock:
            for attention in _attention_modules(unet):
                for index, projection in ((0, attention.to_k), (1, attention.to_v)):
                    self._hooks.append(projection.register_forward_pre_hook(_chain(nets, index)))

    def restore(self) -> None:
        with self._lock:
            for handle in self._hooks:
                handle.remove()
            self._hooks.clear()

    @property
    def active(self) -> bool:
        return bool(self._hooks)


def _chain(nets: list[Hypernetwork], index: int):
    """The pre-hook of one projection: its input through every hypernetwork that has a layer of its width, in
    float32 (A1111 `cond_cast_float`), back in the input's dtype."""
    def hook(_module: nn.Module, args: tuple) -> tuple | None:
        context = args[0]
        width = context.shape[-1]
        layers = [net.layers[width][index] for net in nets if width in net.layers]
        if not layers:
            return None
        x = context.float()
        for layer in layers:
            x = layer(x)
        return (x.to(context.dtype), *args[1:])

    return hook
