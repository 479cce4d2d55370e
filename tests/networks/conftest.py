"""Shared fixtures of the LoRA / textual-inversion tests."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def pipe(tmp_path_factory):
    from modules.model_registry.loader import build_pipeline_from_state
    from modules.model_registry.safe_load import load_checkpoint
    from modules.model_registry.tiny import write_tiny_checkpoint

    root = tmp_path_factory.mktemp("lora-unit")
    path = write_tiny_checkpoint(root / "tiny.safetensors")
    pipe, _family, _pred = build_pipeline_from_state(load_checkpoint(path), dtype=torch.float32,
                                                     cache_dir=root / "cache")
    return pipe
