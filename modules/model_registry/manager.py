"""Which checkpoint and VAE are loaded, and switching between them. Only the worker generates; loads
requested from the API (options, reload) take the same lock, so a switch never happens mid-generation."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import torch

from modules.engine.devices import Precision, configure_attention
from modules.engine.generator import ModelView
from modules.errors import ModelNotFoundError

logger = logging.getLogger(__name__)


class ModelManager:
    def __init__(self, checkpoints, vaes, precision: Precision, cache_dir: Path, *, load_fn=None,
                 xformers: bool = False):
        from modules.model_registry.loader import load_pipeline

        self.checkpoints = checkpoints
        self.vaes = vaes
        self.precision = precision
        self.cache_dir = cache_dir
        self._load_fn = load_fn or load_pipeline
        self.xformers = xformers
        self.attention = "sdpa"
        self.lock = threading.RLock()
        self.loaded = None  # LoadedModel
        self.vae_choice = "Automatic"
        self.vae_path: Path | None = None
        self._own_vae_state: dict | None = None
        self.on_loaded: list = []  # callbacks(loaded_model)

    @property
    def current_title(self) -> str | None:
        return self.loaded.info.title if self.loaded is not None else None

    def resolve(self, alias: str | None):
        """The CheckpointInfo for `alias`; the first checkpoint when alias is empty."""
        if alias:
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
            self.unload()
            started = time.perf_counter()
            loaded = self._load_fn(info, device=self.precision.device, dtype=torch.float32, cache_dir=self.cache_dir)
            pipe = loaded.pipe
            _place(pipe.unet, self.precision.device, self.precision.unet_dtype)
            _place(pipe.vae, self.precision.device, self.precision.vae_dtype)
            for name in ("text_encoder", "text_encoder_2"):
                encoder = getattr(pipe, name, None)
                if encoder is not None:
                    _place(encoder, self.precision.device, self.precision.text_dtype)
            self.attention = configure_attention(pipe, self.xformers, self.precision.device)
            self.loaded = loaded
            self._own_vae_state = None
            self.vae_path = None
            logger.info("loaded checkpoint %s (%s, %s) in %.2fs", info.title, loaded.family,
                        self.precision.label, time.perf_counter() - started)
            self._apply_vae(self.vae_choice)
            for callback in self.on_loaded:
                callback(loaded)
            return loaded

    def unload(self) -> None:
        with self.lock:
            if self.loaded is not None:
                logger.info("unloaded checkpoint %s", self.loaded.info.title)
                self.loaded = None
                self.vae_path = None
                self._own_vae_state = None

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
            vae_files.load_vae_into(pipe, path)
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
