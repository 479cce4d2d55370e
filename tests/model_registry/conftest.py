from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def token_cache(tmp_path_factory) -> Path:
    """One cache dir for the derived tokenizer files, shared by the whole session."""
    return tmp_path_factory.mktemp("easel-cache")


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory) -> dict[str, Path]:
    """Tiny checkpoints written once: {"sd1": ..., "sd1_ckpt": ..., "sd2": ..., "sdxl": ...} (seed 7)."""
    from modules.model_registry.tiny import write_tiny_checkpoint

    root = tmp_path_factory.mktemp("tiny")
    return {
        "sd1": write_tiny_checkpoint(root / "sd1.safetensors", family="sd1", seed=7),
        "sd1_ckpt": write_tiny_checkpoint(root / "sd1.ckpt", family="sd1", seed=7, fmt="ckpt"),
        "sd2": write_tiny_checkpoint(root / "sd2.safetensors", family="sd2", seed=7),
        "sdxl": write_tiny_checkpoint(root / "sdxl.safetensors", family="sdxl", seed=7),
    }
