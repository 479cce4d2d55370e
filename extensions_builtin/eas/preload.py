"""Managed-service (EAS) shim flags. The WebUI's extension loader calls `preload(parser)` before parsing flags."""
from __future__ import annotations

import argparse
import os

DEFAULT_MOUNT_PREFIXES = "/code/stable-diffusion-webui/data,/code/stable-diffusion-webui/data-oss"


def preload(parser: argparse.ArgumentParser) -> None:
    """Add --api-token and the --eas-* flags."""
    parser.add_argument("--api-token", type=str, default=os.environ.get("EASEL_API_TOKEN") or None,
                        help="require 'Authorization: <token>' (or 'Bearer <token>', or a 'Token' header) on every "
                             "API route; default: env EASEL_API_TOKEN")
    parser.add_argument("--eas-mount-prefix", type=str, default=DEFAULT_MOUNT_PREFIXES,
                        help="comma-separated absolute paths that alias --data-dir in save_dir "
                             f"(the managed service's storage mount; default {DEFAULT_MOUNT_PREFIXES})")
    parser.add_argument("--eas-link-timeout", type=float, default=15.0,
                        help="seconds allowed for fetching one image_link, redirects included (default 15)")
    parser.add_argument("--eas-link-max-bytes", type=int, default=20 * 1024 * 1024,
                        help="largest image_link body in bytes (default 20 MiB)")
    parser.add_argument("--eas-link-map", action="append", default=[], metavar="PREFIX=REPLACEMENT",
                        help="rewrite image_link URLs starting with PREFIX to start with REPLACEMENT before fetching "
                             "(e.g. an OSS internal endpoint to a reachable mirror); may be repeated")
