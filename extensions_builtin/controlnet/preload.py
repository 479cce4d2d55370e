"""ControlNet flags (the sd-webui-controlnet names). The WebUI's extension loader calls `preload(parser)`."""
from __future__ import annotations

import argparse


def preload(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--controlnet-dir", type=str, default=None,
        help="another folder with ControlNet models (models/ControlNet is always scanned)")
    add("--controlnet-annotator-models-path", type=str, default=None,
        help="folder with the preprocessors' annotator weights (default models/ControlNet/annotator)")
    add("--no-half-controlnet", action="store_true", default=None,
        help="run ControlNets in float32 even when the UNet runs in half precision")
    add("--controlnet-preprocessor-cache-size", type=int, default=16,
        help="accepted for compatibility; Easel does not cache preprocessor results")
    add("--controlnet-loglevel", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="log level of the ControlNet extension")
    add("--controlnet-tracemalloc", action="store_true", default=None,
        help="accepted for compatibility; no effect in Easel")
