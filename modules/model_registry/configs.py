"""Shipped config-only diffusers folders (no weights) for SD1.x, SD2.x and SDXL.

`configs/<family>/` holds model_index.json and */config.json matching the published SD1.5, SD2.1 (768-v)
and SDXL-base-1.0 repos, minus safety_checker/feature_extractor. Tokenizer files are not shipped; they are
derived from open_clip's BPE data into a cache dir (see clip_vocab.py). `materialize_pipeline_dir` assembles
both into one folder usable with `from_single_file(config=...)` / `from_pretrained`.
"""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

from modules.model_registry.clip_vocab import ensure_tokenizer_dir

CONFIGS_ROOT = Path(__file__).resolve().parent / "configs"
FAMILIES = ("sd1", "sd2", "sdxl")
# component -> tokenizer flavour, per family
TOKENIZERS = {
    "sd1": {"tokenizer": "clip"},
    "sd2": {"tokenizer": "openclip"},
    "sdxl": {"tokenizer": "clip", "tokenizer_2": "openclip"},
}
_lock = threading.Lock()


def config_dir(family: str) -> Path:
    """The shipped config folder of `family` ("sd1", "sd2" or "sdxl")."""
    if family not in FAMILIES:
        raise ValueError(f"Unknown model family {family!r}; expected one of {list(FAMILIES)}")
    return CONFIGS_ROOT / family


def load_component_config(family: str, component: str) -> dict:
    """The JSON config of one component ("unet", "vae", "text_encoder", "text_encoder_2", "scheduler")."""
    name = "scheduler_config.json" if component == "scheduler" else "config.json"
    path = config_dir(family) / component / name
    return json.loads(path.read_text(encoding="utf-8"))


def materialize_pipeline_dir(family: str, cache_dir: Path) -> Path:
    """Copy the shipped configs plus derived tokenizer files to `<cache_dir>/pipeline-configs/<family>`."""
    target = Path(cache_dir) / "pipeline-configs" / family
    with _lock:
        if not (target / "model_index.json").is_file():
            shutil.copytree(config_dir(family), target, dirs_exist_ok=True)
            for component, flavour in TOKENIZERS[family].items():
                src = ensure_tokenizer_dir(cache_dir, flavour=flavour)
                shutil.copytree(src, target / component, dirs_exist_ok=True)
    return target
