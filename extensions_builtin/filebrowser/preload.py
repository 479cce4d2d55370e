"""FileBrowser command-line flags. The WebUI's extension loader calls `preload(parser)` before parsing.

The standard edition enables the FileBrowser by default: it is active unless `--no-filebrowser` is given.
`--filebrowser` is accepted (and is the default) for launch scripts written for editions where it is opt-in.
"""
from __future__ import annotations

import argparse


def preload(parser: argparse.ArgumentParser) -> None:
    """Add --filebrowser, --no-filebrowser, --filebrowser-readonly and --filebrowser-allow-config."""
    parser.add_argument("--filebrowser", action="store_true",
                        help="enable the FileBrowser tab and /filebrowser/api routes (the default)")
    parser.add_argument("--no-filebrowser", action="store_true",
                        help="disable the FileBrowser tab and its /filebrowser/api routes")
    parser.add_argument("--filebrowser-readonly", action="store_true",
                        help="FileBrowser: allow browsing and downloads only (mkdir, move, delete, uploads answer 403)")
    parser.add_argument("--filebrowser-allow-config", action="store_true",
                        help="FileBrowser: also allow writing the server's settings files (config.json, styles.csv, "
                             "cache/); off by default, since whoever writes them configures the server")
