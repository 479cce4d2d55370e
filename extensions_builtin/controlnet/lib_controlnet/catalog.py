"""The extension's state for one server: its settings, model folders, model registry and the loaded-model cache,
and resolving units against them. The server's parts are read through the A1111 facade (`shared.opts`,
`shared.cmd_opts`, `shared.models_path`, `shared.data_path`); `bind()` pins them at app start so a request never
reads another server's (tests run several in one process). Torch is imported only to load models.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib_controlnet import images, preprocessors
from lib_controlnet.models import ModelEntry, ModelRegistry
from lib_controlnet.units import Unit, bad, parse_units
from modules.errors import InvalidRequestError

DEFAULT_UNIT_COUNT = 3
DEFAULT_MAX_PIXELS = 4096 * 4096
GIB = 1024 ** 3


@dataclass
class ResolvedUnit:
    unit: Unit
    preprocessor: preprocessors.Preprocessor
    model: ModelEntry | None


class Catalog:
    def __init__(self) -> None:
        self._services: Any = None
        self.registry = ModelRegistry(self.model_dirs)
        self._cache = None

    # -- the server ----------------------------------------------------------------------------------------------
    def bind(self, services: Any) -> None:
        self._services = services

    def services(self) -> Any:
        from modules import shared

        return self._services or shared.services

    def option(self, key: str, default: Any) -> Any:
        services = self.services()
        opts = getattr(services, "options", None)
        if opts is None:
            return default
        try:
            return opts.get(key)
        except KeyError:
            return default

    def cmd_opt(self, name: str, default: Any = None) -> Any:
        return getattr(getattr(self.services(), "cmd_opts", None), name, default)

    def unit_count(self) -> int:
        return max(1, min(10, int(self.option("control_net_unit_count", DEFAULT_UNIT_COUNT))))

    def model_dirs(self) -> list[Path]:
        """models/ControlNet, then --controlnet-dir, then the option control_net_models_path."""
        services = self.services()
        paths = getattr(services, "paths", None)
        dirs = [paths.controlnet_dir] if paths is not None else []
        for extra in (self.cmd_opt("controlnet_dir"), self.option("control_net_models_path", "")):
            if extra:
                folder = Path(extra).expanduser()
                dirs.append(folder if folder.is_absolute() or paths is None else paths.data_dir / folder)
        return dirs

    def max_pixels(self) -> int:
        limits = getattr(self.services(), "limits", None)
        return int(getattr(limits, "max_input_pixels", DEFAULT_MAX_PIXELS))

    def device_and_dtype(self):
        import torch

        precision = getattr(self.services(), "precision", None)
        if precision is None:
            return torch.device("cpu"), torch.float32
        dtype = torch.float32 if self.cmd_opt("no_half_controlnet") else precision.unet_dtype
        return precision.device, dtype

    def checkpoint_family(self) -> str | None:
        models = getattr(self.services(), "models", None)
        loaded = getattr(models, "loaded", None)
        return getattr(loaded, "family", None)

    # -- models --------------------------------------------------------------------------------------------------
    def load_model(self, entry: ModelEntry, device, dtype):
        from lib_controlnet.loader import ControlNetCache

        if self._cache is None:
            self._cache = ControlNetCache(
                size_fn=lambda: self.option("control_net_model_cache_size", 2),
                reserve_bytes_fn=lambda: int(float(self.cmd_opt("min_ram_reserved", 0.0) or 0.0) * GIB))
        paths = getattr(self.services(), "paths", None)
        cache_dir = paths.cache_dir if paths is not None else Path(".")
        return self._cache.get(entry, device=device, dtype=dtype, cache_dir=cache_dir)

    def cached_titles(self) -> list[str]:
        return self._cache.titles() if self._cache is not None else []

    # -- units ---------------------------------------------------------------------------------------------------
    def resolve(self, units: list[Unit], *, mode: str, links_pending: bool = False) -> list[ResolvedUnit]:
        """Check the enabled units against the preprocessors and models; decode their images once (bad base64,
        oversized images -> 422); an unknown model is a 404. `links_pending`: `image_link`s are about to be
        fetched (the managed-service shim asks before fetching)."""
        resolved = []
        for unit in units:
            if not unit.enabled:
                continue
            spec = preprocessors.get(unit.module)
            if spec is None:
                names = ", ".join(p.name for p in preprocessors.sorted_all())
                raise bad(unit.index, "module", f"unknown preprocessor {unit.module!r}; valid: {names}")
            if unit.model == "None":
                continue  # the extension's "None" model: the unit does nothing
            if not spec.weight_free:
                raise bad(unit.index, "module", self.annotator_message(spec))
            if unit.input_mode != "simple" and unit.image is None and unit.image_link is None:
                raise bad(unit.index, "input_mode", f"input_mode {unit.input_mode!r} reads batch folders in the "
                                                    "WebUI only; send the images in \"image\"")
            model = self.registry.get(unit.model, field=unit.where("model"))
            unit.model_title = model.title
            if unit.image_link is not None and not links_pending:
                raise bad(unit.index, "image_link", "image_link is fetched by the managed-service extension (eas), "
                                                    "which is not active; send the image in \"image\"")
            if unit.image is not None:
                count = len(images.unit_images_rgba(unit, self.max_pixels()))  # decoded once: bad images -> 422
                if count > 1 and unit.input_mode != "merge":
                    raise bad(unit.index, "image", f"{count} images for one unit: send one, or set input_mode "
                                                   "\"merge\" to apply each with weight / count")
            elif unit.image_link is None and mode != "img2img":
                raise bad(unit.index, "image", "the unit is enabled but has no input image (\"image\"; img2img "
                                               "uses its init image)")
            if "inpaint" in spec.name and unit.image is None and mode != "img2img" and unit.image_link is None:
                raise bad(unit.index, "image", f"preprocessor {spec.name!r} needs an image and a mask")
            resolved.append(ResolvedUnit(unit, spec, model))
        return resolved

    def annotator_message(self, spec: preprocessors.Preprocessor) -> str:
        """Why a learned preprocessor cannot run: its weights are missing, or (present) Easel cannot run it."""
        flag = self.cmd_opt("controlnet_annotator_models_path")
        paths = getattr(self.services(), "paths", None)
        root = Path(flag) if flag else (paths.controlnet_dir / "annotator" if paths is not None else None)
        shown = f"{flag.rstrip('/')}/{spec.annotator}" if flag else f"{preprocessors.ANNOTATOR_DIR}/{spec.annotator}"
        if root is not None and (root / spec.annotator).is_file():
            return (f"preprocessor {spec.name!r} is not available in Easel yet (its weights are installed at "
                    f"{shown}); use a weight-free preprocessor or send a ready control map with module \"none\"")
        return (f"preprocessor {spec.name!r} needs its annotator weights in {shown}, which are not installed "
                "(learned preprocessors are never downloaded); use a weight-free preprocessor or send a ready control "
                "map with module \"none\"")

    def parse_and_resolve(self, args: Any, *, mode: str, links_pending: bool = False) -> list[ResolvedUnit]:
        return self.resolve(parse_units(args), mode=mode, links_pending=links_pending)


def check_unit_list(value: Any) -> list:
    """`alwayson_scripts.controlnet.args` must be a list (of unit objects or nulls)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequestError("alwayson_scripts.controlnet.args: expected a list of unit objects",
                                  field="alwayson_scripts.controlnet.args")
    return value
