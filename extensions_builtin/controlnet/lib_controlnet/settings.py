"""The extension's settings (its option keys and defaults), in the Settings tab's "ControlNet" section."""
from __future__ import annotations

from typing import Any

SECTION = "control_net"


def register(opts: Any) -> None:
    """Add the options (idempotent: called at app start and again when the Settings tab is built)."""
    if opts is None:
        return
    from modules.options import OptionInfo

    options = {
        "control_net_unit_count": OptionInfo(3, "Multi-ControlNet: ControlNet unit number (reload the UI)",
                                             SECTION, minimum=1, maximum=10),
        "control_net_model_cache_size": OptionInfo(2, "Model cache size (loaded ControlNets kept in memory)",
                                                   SECTION, minimum=0, maximum=10),
        "control_net_models_path": OptionInfo("", "Extra path to scan for ControlNet models (inside the data dir)",
                                              SECTION, kind="path"),
        "control_net_no_detectmap": OptionInfo(False, "Do not append detectmap to output", SECTION),
        "control_net_inpaint_blur_sigma": OptionInfo(7, "ControlNet inpainting Gaussian blur sigma", SECTION,
                                                     minimum=0, maximum=64),
    }
    for key, info in options.items():
        if key not in opts.table:
            opts.add_option(key, info)
