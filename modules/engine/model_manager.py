"""Which checkpoint and VAE are loaded, and switching between them. Only the worker generates; loads
requested from the API (options, reload) take the same lock, so a switch never happens mid-generation.

RAM cache (`--sd-dynamic-cache`): the pipelines used last stay in RAM (least recently used first out), so
switching back to one is a dictionary move instead of a load from disk. Before a load from disk, and after it,
cached pipelines are evicted while free RAM (psutil) would fall under `--min-ram-reserved` GB. On CUDA a
cached pipeline waits in CPU RAM and moves back to the GPU on its next use. Without the flag one model is
resident at a time (the previous one is released before the next is read).
"""
from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch

from modules.engine.devices import Precision, configure_attention
from modules.engine.generator import ModelView
from modules.errors import ModelNotFoundError

logger = logging.getLogger(__name__)
GIB = 1024 ** 3


@dataclass
class _Cached:
    """A pipeline waiting in RAM, with the VAE state it had (so switching back restores it exactly)."""

    loaded: object  # LoadedModel
    vae_path: Path | None
    own_vae_state: dict | None
    size_bytes: int


def pipeline_bytes(pipe) -> int:
    """Bytes held by the parameters and buffers of a pipeline's torch modules."""
    total = 0
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module):
            total += sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))
    return total


def free_ram_bytes() -> int:
    return int(psutil.virtual_memory().available)


class ModelManager:
    def __init__(self, checkpoints, vaes, precision: Precision, cache_dir: Path, *, load_fn=None,
                 xformers: bool = False, dynamic_cache: bool = False, min_ram_reserved_gb: float = 0.0,
                 free_ram_fn: Callable[[], int] | None = None, converted_cache=None, optimizer=None):
        from modules.model_registry.loader import load_pipeline

        self.checkpoints = checkpoints
        self.vaes = vaes
        self.precision = precision
        self.cache_dir = cache_dir
        self._load_fn = load_fn or load_pipeline
        self.xformers = xformers
        self.converted_cache = converted_cache  # ConvertedCache | None (--converted-cache-gb)
        self.optimizer = optimizer  # engine.optimize.PipelineOptimizer | None (channels_last, --compile)
        self.dynamic_cache = dynamic_cache
        self.min_ram_reserved = int(max(0.0, min_ram_reserved_gb) * GIB)
        self._free_ram = free_ram_fn or free_ram_bytes
        self.attention = "sdpa"
        self.lock = threading.RLock()
        self.loaded = None  # LoadedModel
        self.vae_choice = "Automatic"
        self.vae_path: Path | None = None
        self._own_vae_state: dict | None = None
        self._cache: OrderedDict[Path, _Cached] = OrderedDict()  # least recently used first
        self.on_loaded: list = []  # callbacks(loaded_model)
        self.on_load_timed: list = []  # callbacks(title, seconds, source "disk" | "ram"): metrics, task usage

    @property
    def current_title(self) -> str | None:
        return self.loaded.info.title if self.loaded is not None else None

    def resolve(self, alias: str | None):
        """The CheckpointInfo for `alias`; the first checkpoint when alias is empty. An unknown name rescans the
        folders once: with several processes, a checkpoint added through another one (upload, shared mount) is
        found by the worker that is asked for it."""
        if alias:
            try:
                return self.checkpoints.get(alias)
            except ModelNotFoundError:
                self.checkpoints.refresh()
                return self.checkpoints.get(alias)
        first = self.checkpoints.first()
        if first is None:
            raise ModelNotFoundError("no checkpoint found in models/Stable-diffusion", field="sd_model_checkpoint")
        return first

    def load(self, alias: str | None):
        """Make `alias` the loaded checkpoint (no-op when it already is). Returns the LoadedModel."""
        info = self.resolve(alias)
        with self.lock:
            if self.loaded is not None and self.loaded.info.filename == info.filename:
                return self.loaded
            started = time.perf_counter()
            self._park_current()
            cached = self._cache.pop(info.filename, None)
            if cached is not None:
                loaded = cached.loaded
                self._activate(loaded, cached.vae_path, cached.own_vae_state)
                logger.info("switched to checkpoint %s from the RAM cache in %.3fs (%s)", info.title,
                            time.perf_counter() - started, self._cache_summary())
            else:
                if info.fetch is not None:  # --models-url: into the local cache first
                    info.fetch()
                self._evict_for(self._estimate_bytes(info))
                loaded = self._load_fn(info, device=self.precision.device, dtype=torch.float32,
                                       cache_dir=self.cache_dir, dtypes=self.precision.component_dtypes(),
                                       converted_cache=self.converted_cache)
                self._activate(loaded, None, None)
                logger.info("loaded checkpoint %s (%s, %s) in %.2fs", info.title, loaded.family,
                            self.precision.label, time.perf_counter() - started)
                self._evict_for(0)
            self._apply_vae(self.vae_choice)
            seconds, source = time.perf_counter() - started, "ram" if cached is not None else "disk"
            for timed in self.on_load_timed:
                timed(info.title, seconds, source)
            for callback in self.on_loaded:
                callback(loaded)
            return loaded

    def _activate(self, loaded, vae_path: Path | None, own_vae_state: dict | None) -> None:
        pipe = loaded.pipe
        _place(pipe.unet, self.precision.device, self.precision.unet_dtype)
        _place(pipe.vae, self.precision.device, self.precision.vae_dtype)
        for name in ("text_encoder", "text_encoder_2"):
            encoder = getattr(pipe, name, None)
            if encoder is not None:
                _place(encoder, self.precision.device, self.precision.text_dtype)
        self.attention = configure_attention(pipe, self.xformers, self.precision.device)
        if self.optimizer is not None:
            self.optimizer.apply(pipe, loaded.family)
        self.loaded, self.vae_path, self._own_vae_state = loaded, vae_path, own_vae_state

    def _park_current(self) -> None:
        """Put the current pipeline in the RAM cache (with --sd-dynamic-cache) or release it."""
        if self.loaded is None:
            return
        if not self.dynamic_cache:
            self.unload()
            return
        loaded = self.loaded
        if self.precision.device.type != "cpu":
            loaded.pipe.to("cpu")
        self._cache[loaded.info.filename] = _Cached(loaded, self.vae_path, self._own_vae_state,
                                                    pipeline_bytes(loaded.pipe))
        self.loaded, self.vae_path, self._own_vae_state = None, None, None
        if self.precision.device.type == "cuda":
            torch.cuda.empty_cache()
        logger.info("RAM cache: keeping %s (%s)", loaded.info.title, self._cache_summary())

    def _estimate_bytes(self, info) -> int:
        """RAM a load of `info` will take: float32 weights, about twice an fp16 file."""
        try:
            size = Path(info.filename).stat().st_size
        except OSError:
            return 0
        return size * 2 if Path(info.filename).is_file() else size

    def _evict_for(self, needed: int) -> None:
        """Evict least recently used pipelines while free RAM minus `needed` is under the reserve."""
        while self._cache and self._free_ram() - needed < self.min_ram_reserved:
            filename, entry = self._cache.popitem(last=False)
            title = entry.loaded.info.title
            del entry
            gc.collect()
            logger.info("RAM cache: evicted %s (free RAM %.2f GB, reserve %.2f GB; %s)", title,
                        self._free_ram() / GIB, self.min_ram_reserved / GIB, self._cache_summary())

    def _cache_summary(self) -> str:
        return f"{len(self._cache)} cached: {', '.join(e.loaded.info.title for e in self._cache.values()) or '-'}"

    def cache_state(self) -> dict:
        """What /sdapi/v1/memory shows: the loaded model and the RAM cache, least recently used first."""
        with self.lock:
            compiled = self.optimizer.compile_state(self.loaded.pipe) if self.optimizer and self.loaded else None
            return {"loaded": self.current_title, "dynamic_cache": self.dynamic_cache, "compile": compiled,
                    "min_ram_reserved_gb": self.min_ram_reserved / GIB,
                    "cached_models": [{"title": e.loaded.info.title, "bytes": e.size_bytes}
                                      for e in self._cache.values()]}

    def held_titles(self) -> list[str]:
        """The loaded checkpoint and the RAM cache's, read without the lock (a worker's heartbeat must not wait
        for the job that holds it)."""
        loaded = self.loaded
        titles = [loaded.info.title] if loaded is not None else []
        for _ in range(3):
            try:
                return titles + [e.loaded.info.title for e in list(self._cache.values())]
            except RuntimeError:  # the cache changed while it was read
                continue
        return titles

    def unload(self) -> None:
        """Release the current pipeline (the RAM cache is kept; see clear_cache)."""
        with self.lock:
            if self.loaded is not None:
                logger.info("unloaded checkpoint %s", self.loaded.info.title)
                self.loaded = None
                self.vae_path = None
                self._own_vae_state = None

    def clear_cache(self) -> None:
        with self.lock:
            self._cache.clear()
            gc.collect()

    def set_vae(self, choice: str) -> None:
        """Apply an `sd_vae` choice ("Automatic", "None" or a file) to the loaded model."""
        with self.lock:
            if self.loaded is not None:
                self._apply_vae(choice)
            self.vae_choice = choice

    def _apply_vae(self, choice: str) -> None:
        from modules.model_registry import vae as vae_files

        path = self.vaes.resolve(choice, self.loaded.info)
        if path == self.vae_path:
            return
        pipe = self.loaded.pipe
        if self._own_vae_state is None:
            self._own_vae_state = {k: v.clone() for k, v in pipe.vae.state_dict().items()}
        if path is None:
            pipe.vae.load_state_dict(self._own_vae_state)
        else:
            vae_files.load_vae_into(pipe, self.vaes.local_file(path))
        _place(pipe.vae, self.precision.device, self.precision.vae_dtype)
        self.vae_path = path
        logger.info("VAE: %s", path.name if path else "the checkpoint's own")

    def view(self) -> ModelView:
        loaded = self.loaded
        info = loaded.info
        vae_name = self.vae_path.name if self.vae_path else None
        vae_hash = None
        if self.vae_path is not None:
            vae_hash = self.vaes.shorthash(self.vae_path)
        stem = Path(info.name).stem
        return ModelView(pipe=loaded.pipe, family=loaded.family, prediction_type=loaded.prediction_type,
                         model_name=stem, shorthash=info.shorthash, checkpoint_title=info.title,
                         vae_name=vae_name, vae_hash=vae_hash)


def _place(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
    """Move a module only when needed (diffusers warns on every dtype cast, even a no-op one)."""
    param = next(module.parameters())
    if param.device != device or param.dtype != dtype:
        module.to(device, dtype)
