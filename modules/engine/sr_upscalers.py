"""The spandrel upscaler files as A1111 upscalers: registered in modules/upscalers (so Extras, hires fix's
`hr_upscaler`, SD upscale, the X/Y/Z plot and `images.resize_image` all see them) and run in tiles.

Tile size and overlap come from the A1111 options: `ESRGAN_tile` / `ESRGAN_tile_overlap` for ESRGAN, RealESRGAN,
BSRGAN, HAT and the other architectures, `SWIN_tile` / `SWIN_tile_overlap` for SwinIR, `DAT_tile` /
`DAT_tile_overlap` for DAT (A1111 1.10's option per upscaler family). On CUDA the model runs in float16 (or
bfloat16) unless --no-half / --precision full; on the CPU in float32.
"""
from __future__ import annotations

import logging
import threading

import torch
from PIL import Image

from modules import upscalers
from modules.engine.upscale_tiles import upscale_tiled
from modules.model_registry.sr_models import SrModelFile, SrModelRegistry

logger = logging.getLogger(__name__)

TILE_OPTIONS = {"SwinIR": ("SWIN_tile", "SWIN_tile_overlap"), "DAT": ("DAT_tile", "DAT_tile_overlap")}
DEFAULT_TILE_OPTIONS = ("ESRGAN_tile", "ESRGAN_tile_overlap")
BUILTIN_NAMES = ("None", "Lanczos", "Nearest")  # a file with one of these stems cannot shadow a built-in


class SrUpscalers:
    """Keeps modules.upscalers in step with the registry's upscaler files."""

    def __init__(self, registry: SrModelRegistry, options, precision):
        self.registry = registry
        self.options = options
        self.precision = precision
        self._names: list[str] = []
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Rescan the folders and re-register the model upscalers (removed files disappear)."""
        self.registry.refresh()
        self.install()

    def install(self) -> None:
        """Register every upscaler file (replacing changed ones in place); unregister the files that are gone."""
        with self._lock:
            current = {e.name: e for e in self.registry.upscalers() if e.name not in BUILTIN_NAMES}
            for name in self._names:
                if name not in current:
                    upscalers.unregister_upscaler(name)
            for entry in current.values():
                info = upscalers.UpscalerInfo(entry.name, model_name=entry.kind, model_path=str(entry.path),
                                              scale=entry.scale)
                upscalers.register_upscaler(info, self._pass(entry))
            self._names = list(current)

    def _pass(self, entry: SrModelFile) -> upscalers.DoUpscale:
        def do_upscale(image: Image.Image, _scale: float) -> Image.Image:
            tile_key, overlap_key = TILE_OPTIONS.get(entry.architecture, DEFAULT_TILE_OPTIONS)
            device = self.precision.device
            half = device.type == "cuda" and self.precision.unet_dtype != torch.float32
            descriptor = self.registry.load(entry, device, half=half)
            return upscale_tiled(descriptor, image, tile=int(self.options.get(tile_key)),
                                 overlap=int(self.options.get(overlap_key)),
                                 should_stop=upscalers.should_stop)
        return do_upscale
