"""Shim settings, read once at app start from `shared.cmd_opts` / `shared.data_path` (or built by hand in tests)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MAX_INPUT_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class EasConfig:
    """Everything the middlewares need besides the live options (`shared.opts`), which are read per request.

    data_dir: the root every save_dir is confined to (--data-dir).
    mount_prefixes: absolute paths that stand for the data dir in save_dir (the managed service's mount path).
    token: --api-token; None disables token auth.
    webui: True when the WebUI is mounted (its pages stay reachable without the token).
    link_*: image_link fetching limits and URL rewrites (prefix, replacement).
    """

    data_dir: Path
    mount_prefixes: tuple[str, ...] = ()
    token: str | None = None
    webui: bool = False
    link_timeout: float = 15.0
    link_max_bytes: int = 20 * 1024 * 1024
    link_map: tuple[tuple[str, str], ...] = ()
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS

    @classmethod
    def from_cmd_opts(cls, cmd_opts: Any, data_path: str, models_path: str | None) -> EasConfig:
        """Build from the parsed flags (preload.py adds the --eas-* ones; missing ones take their defaults)."""
        prefixes = tuple(os.path.normpath(p.strip()) for p in (getattr(cmd_opts, "eas_mount_prefix", "") or "").split(",")
                         if p.strip() and os.path.isabs(p.strip()))
        mapping = []
        for item in getattr(cmd_opts, "eas_link_map", None) or []:
            prefix, sep, replacement = item.partition("=")
            if not sep or not prefix:
                raise ValueError(f"--eas-link-map: expected PREFIX=REPLACEMENT, got {item!r}")
            mapping.append((prefix, replacement))
        return cls(data_dir=Path(data_path), mount_prefixes=prefixes, token=getattr(cmd_opts, "api_token", None) or None,
                   webui=not getattr(cmd_opts, "nowebui", False),
                   link_timeout=float(getattr(cmd_opts, "eas_link_timeout", 15.0)),
                   link_max_bytes=int(getattr(cmd_opts, "eas_link_max_bytes", 20 * 1024 * 1024)),
                   link_map=tuple(mapping),
                   max_input_pixels=int(getattr(cmd_opts, "max_input_pixels", DEFAULT_MAX_INPUT_PIXELS)))
