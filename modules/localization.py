"""Localizations in A1111's format: `localizations/<name>.json` (a flat {"English text": "translation"} object)
in the Easel root and in every extension's `localizations/` folder. The `localization` option picks one ("None":
English); javascript/localization.js translates the page with it."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from modules.paths import REPO_ROOT

logger = logging.getLogger(__name__)
NONE = "None"
MAX_FILE_BYTES = 4 << 20


def localization_dirs(root: Path = REPO_ROOT) -> list[Path]:
    dirs = [root / "localizations"]
    for parent in ("extensions_builtin", "extensions"):
        base = root / parent
        if base.is_dir():
            dirs += sorted(p / "localizations" for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [d for d in dirs if d.is_dir()]


def list_localizations(root: Path = REPO_ROOT) -> dict[str, Path]:
    """{name: file}; the first folder wins for a name (Easel's own, then the extensions' in name order)."""
    found: dict[str, Path] = {}
    for folder in localization_dirs(root):
        for path in sorted(folder.glob("*.json")):
            found.setdefault(path.stem, path)
    return found


def choices() -> list[str]:
    return [NONE, *list_localizations()]


def load(name: str | None, root: Path = REPO_ROOT) -> dict[str, str]:
    """The mapping of a localization ({} for "None" or one that cannot be read, which is logged)."""
    if not name or name == NONE:
        return {}
    path = list_localizations(root).get(name)
    if path is None:
        logger.warning("localization %r not found in %s", name, ", ".join(map(str, localization_dirs(root))))
        return {}
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        logger.error("cannot read localization %s: %s", path, e)
        return {}
    if not isinstance(data, dict):
        logger.error("localization %s is not a JSON object", path)
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(k, str) and isinstance(v, (str, int, float))}
