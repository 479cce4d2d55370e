"""Textual-inversion file formats, loaded/skipped split and the token lookup, in-process."""
from __future__ import annotations

import pytest
import torch

from modules.engine.embedding_registry import EmbeddingRegistry
from modules.engine.embeddings import read_embedding
from modules.engine.text_encoder import PromptEncoder
from modules.errors import ModelLoadError
from tests.networks.builders import write_embedding


def test_formats(tmp_path):
    a = read_embedding(write_embedding(tmp_path / "styl.pt", torch.randn(2, 32)))
    assert (a.shape, a.count, a.step, a.sd_checkpoint_name) == (32, 2, 123, "tiny-a")
    b = read_embedding(write_embedding(tmp_path / "conc.bin", torch.randn(1, 32), fmt="diffusers"))
    assert (b.shape, b.count, b.step) == (32, 1, None)
    c = read_embedding(write_embedding(tmp_path / "st.safetensors", torch.randn(3, 32), fmt="safetensors"))
    assert (c.shape, c.count) == (32, 3)
    (tmp_path / "bad.pt").write_bytes(b"not a pickle")
    with pytest.raises(ModelLoadError):
        read_embedding(tmp_path / "bad.pt")


def test_split_and_lookup(pipe, tmp_path):
    vectors = torch.randn(2, 32)
    write_embedding(tmp_path / "emb" / "easelstyle.pt", vectors)
    write_embedding(tmp_path / "emb" / "widething.pt", torch.randn(1, 768))
    registry = EmbeddingRegistry([tmp_path / "emb"])
    registry.refresh()
    listing = registry.api_listing(pipe)
    assert list(listing["loaded"]) == ["easelstyle"] and list(listing["skipped"]) == ["widething"]
    assert listing["loaded"]["easelstyle"] == {"step": 123, "sd_checkpoint": "abcdef1234",
                                               "sd_checkpoint_name": "tiny-a", "shape": 32, "vectors": 2}
    lookup = registry.lookup(pipe)
    encoder = PromptEncoder(pipe.tokenizer, pipe.text_encoder, embeddings=lookup)
    chunk = encoder.tokenize(["a photo of easelstyle, red"])[0][0]
    assert len(chunk.fixes) == 1 and chunk.fixes[0][1].name == "easelstyle"
    assert torch.equal(chunk.fixes[0][1].vectors, vectors)
    assert "easelstyle" in lookup.used
    plain = PromptEncoder(pipe.tokenizer, pipe.text_encoder)
    assert not torch.equal(encoder.encode("a photo of easelstyle").hidden,
                           plain.encode("a photo of easelstyle").hidden)
    assert len(registry.shorthash(lookup.used["easelstyle"])) == 12
    # a fresh lookup starts with no usage; a new file is seen without an explicit refresh
    write_embedding(tmp_path / "emb" / "another.safetensors", torch.randn(1, 32), fmt="safetensors")
    assert not registry.lookup(pipe).used
    assert "another" in registry.api_listing(pipe)["loaded"]
