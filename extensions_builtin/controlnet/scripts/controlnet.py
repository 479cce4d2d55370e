"""ControlNet for Easel, in the shape of sd-webui-controlnet: an always-on script titled "ControlNet" (so
`/sdapi/v1/scripts` lists `controlnet`; its arguments are the unit dicts of `alwayson_scripts.controlnet.args`),
its `/controlnet/*` routes and its settings. Public extension API only (`scripts.Script`, `script_callbacks`,
`shared`); the work is in lib_controlnet/.

Where things happen:
- `check` (API process, before the request is queued): units parsed, preprocessor and model names resolved,
  images decoded once; bad values are a 422 naming `alwayson_scripts.controlnet.args[i].<field>`.
- `process` (worker, model loaded): preprocessors run, maps fitted, ControlNets loaded (cached), one UNet patch
  added to `p.unet_patches` (modules/engine/unet_patches.py); infotext `ControlNet N: "Module: ..."`.
- `process_batch` / `before_hr`: the patch switches between the first pass and the hires pass.
- `postprocess_batch`: inpaint_only and recolor post-processing of the decoded images.
- `postprocess`: the detected maps are appended after the generated images.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

EXTENSION_DIR = Path(__file__).resolve().parent.parent
if str(EXTENSION_DIR) not in sys.path:  # lib_controlnet is imported lazily by the worker too
    sys.path.append(str(EXTENSION_DIR))

from lib_controlnet import settings  # noqa: E402
from lib_controlnet.catalog import Catalog, check_unit_list  # noqa: E402

from modules import script_callbacks, scripts, shared  # noqa: E402

logger = logging.getLogger("controlnet")
catalog = Catalog()  # this server's ControlNet state (a fresh module, so a fresh one, per extension load)


class ControlNetScript(scripts.Script):
    sorting_priority = 10

    def title(self) -> str:
        return "ControlNet"

    def show(self, is_img2img: bool):
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list[Any]:
        from lib_controlnet.ui import build_units

        return build_units(catalog, is_img2img)

    def check(self, p, *units) -> None:
        catalog.parse_and_resolve(check_unit_list(list(units)), mode=p.mode)

    def check_units(self, units: list, mode: str, links_pending: bool = False) -> None:
        """For other extensions (the managed-service shim checks units before fetching their image_link)."""
        catalog.parse_and_resolve(check_unit_list(units), mode=mode, links_pending=links_pending)

    def process(self, p, *units) -> None:
        from lib_controlnet import process

        resolved = catalog.parse_and_resolve(list(units), mode=p.mode)
        for position, item in enumerate(resolved):
            p.extra_generation_params[f"ControlNet {position}"] = _infotext(item)
        family = catalog.checkpoint_family() or "sd1"
        run = process.start(p, resolved, catalog, family)
        p.controlnet_run = run
        if run is not None:
            p.unet_patches.append(run.patch)

    def process_batch(self, p, *units, **kwargs) -> None:
        run = getattr(p, "controlnet_run", None)
        if run is not None:
            run.patch.high_res = False

    def before_hr(self, p, *units) -> None:
        run = getattr(p, "controlnet_run", None)
        if run is not None:
            run.patch.high_res = True

    def postprocess_batch(self, p, *units, **kwargs) -> None:
        run = getattr(p, "controlnet_run", None)
        images = kwargs.get("images")
        if run is None or not run.post or images is None:
            return
        for i in range(len(images)):
            for post in run.post:
                images[i] = post(images[i], i)

    def postprocess(self, p, processed, *units) -> None:
        run = getattr(p, "controlnet_run", None)
        if run is None:
            return
        if run.patch in p.unet_patches:
            p.unet_patches.remove(run.patch)
        processed.images.extend(run.maps)
        p.controlnet_run = None


def _infotext(item) -> str:
    """The unit as the extension writes it (the thresholds and resolution after the preprocessor's defaults)."""
    unit, spec = item.unit, item.preprocessor
    unit.processor_res, unit.threshold_a, unit.threshold_b = spec.defaults(unit.processor_res, unit.threshold_a,
                                                                           unit.threshold_b)
    return unit.infotext()


def on_app_started(_demo: Any, app: Any) -> None:
    from lib_controlnet.routes import register_routes

    catalog.bind(shared.services)
    level = getattr(shared.cmd_opts, "controlnet_loglevel", None) or "INFO"
    for name in ("controlnet", "lib_controlnet"):
        logging.getLogger(name).setLevel(level)
    settings.register(shared.opts)
    register_routes(app, catalog)
    logger.info("ControlNet: %d model(s) in %s", len(catalog.registry.refresh()),
                ", ".join(str(d) for d in catalog.model_dirs()))


def on_ui_settings() -> None:
    settings.register(shared.opts)


script_callbacks.on_app_started(on_app_started, name="controlnet")
script_callbacks.on_ui_settings(on_ui_settings, name="controlnet")
