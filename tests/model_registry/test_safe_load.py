from __future__ import annotations

import pytest
import torch

from modules.errors import ModelLoadError
from modules.model_registry.safe_load import load_checkpoint, load_state_dict


class Evil:  # a custom class: unpickling it would need arbitrary code
    def __init__(self):
        self.payload = "boom"


def test_ckpt_weights_only_and_state_dict_unwrap(tmp_path):
    path = tmp_path / "m.ckpt"
    torch.save({"state_dict": {"a": torch.ones(2), "b": torch.zeros(1, 3)}, "global_step": 875000,
                "epoch": 3}, path)
    raw = load_checkpoint(path)
    assert set(raw.tensors) == {"a", "b"} and raw.global_step == 875000
    assert torch.equal(load_state_dict(path)["a"], torch.ones(2))


def test_custom_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"a": torch.ones(1)}, "obj": Evil()}, path)
    with pytest.raises(ModelLoadError, match="refusing to unpickle it. Convert it to .safetensors"):
        load_state_dict(path)


def test_bad_files(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="junk.safetensors"):
        load_state_dict(tmp_path / "junk.safetensors")
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="Unsupported checkpoint format"):
        load_state_dict(tmp_path / "m.onnx")
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_state_dict(tmp_path / "missing.ckpt")
