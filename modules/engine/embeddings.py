"""Textual-inversion embeddings: reading the file formats and the token lookup used by `PromptEncoder`.

Formats (A1111 `EmbeddingDatabase.load_from_file`):
- A1111 .pt: `{"string_to_param": {"*": tensor[n, D]}, "name", "step", "sd_checkpoint", "sd_checkpoint_name"}`;
- diffusers .bin / single-key .safetensors (`emb_params`): `{token: tensor[D] or [n, D]}`;
- SDXL .safetensors: `{"clip_l": [n, 768], "clip_g": [n, 1280]}`.
"""
from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from modules.engine.text_encoder import EmbeddingMatch
from modules.errors import ModelLoadError

EMBEDDING_SUFFIXES = (".pt", ".bin", ".safetensors")


@dataclass
class Embedding:
    """One embedding file. `vectors` is `[n, D]`, or for SDXL `{"clip_l": [n, Dl], "clip_g": [n, Dg]}`."""

    name: str
    path: Path
    vectors: Tensor | dict[str, Tensor]
    step: int | None = None
    sd_checkpoint: str | None = None
    sd_checkpoint_name: str | None = None
    sha256: str | None = None

    @property
    def shape(self) -> int:
        """Vector width (A1111 `Embedding.shape`; SDXL: clip_l + clip_g widths)."""
        if isinstance(self.vectors, dict):
            return sum(int(v.shape[-1]) for v in self.vectors.values())
        return int(self.vectors.shape[-1])

    @property
    def count(self) -> int:
        """Number of vectors (prompt tokens) the embedding takes (A1111 `Embedding.vectors`)."""
        first = next(iter(self.vectors.values())) if isinstance(self.vectors, dict) else self.vectors
        return int(first.shape[0]) if first.dim() > 1 else 1

    def as_api(self) -> dict:
        return {"step": self.step, "sd_checkpoint": self.sd_checkpoint, "sd_checkpoint_name": self.sd_checkpoint_name,
                "shape": self.shape, "vectors": self.count}

    def fits(self, widths: Sequence[int]) -> bool:
        """Whether the vectors fit a model whose text encoders have hidden sizes `widths`."""
        if len(widths) == 2:
            return (isinstance(self.vectors, dict) and "clip_l" in self.vectors and "clip_g" in self.vectors
                    and self.vectors["clip_l"].shape[-1] == widths[0] and self.vectors["clip_g"].shape[-1] == widths[1])
        return isinstance(self.vectors, Tensor) and self.vectors.shape[-1] == widths[0]

    def vectors_for(self, encoder_index: int) -> Tensor:
        if isinstance(self.vectors, dict):
            return self.vectors["clip_l" if encoder_index == 0 else "clip_g"]
        return self.vectors


def _as_2d(tensor: Tensor) -> Tensor:
    tensor = tensor.detach().float().cpu()
    return tensor.unsqueeze(0) if tensor.dim() == 1 else tensor


def read_embedding(path: Path) -> Embedding:
    """Read one embedding file (pickles restricted to tensors and plain containers).

    Raises:
        ModelLoadError: unreadable file or an unknown layout.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            data: dict = load_file(str(path), device="cpu")
        else:
            data = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelLoadError(f"Cannot read embedding '{path.name}': {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict) or not data:
        raise ModelLoadError(f"Embedding '{path.name}' does not hold a dict of tensors")
    embedding = Embedding(name=path.stem, path=path, vectors=torch.empty(0))
    if "string_to_param" in data:
        params = data["string_to_param"]
        params = getattr(params, "_parameters", params)
        if not isinstance(params, dict) or len(params) != 1:
            raise ModelLoadError(f"Embedding '{path.name}': string_to_param must hold exactly one tensor")
        embedding.vectors = _as_2d(next(iter(params.values())))
        step = data.get("step")
        embedding.step = int(step) if isinstance(step, int) else None
        for key in ("sd_checkpoint", "sd_checkpoint_name"):
            value = data.get(key)
            setattr(embedding, key, value if isinstance(value, str) else None)
    elif "clip_l" in data and "clip_g" in data:
        embedding.vectors = {k: _as_2d(data[k]) for k in ("clip_l", "clip_g")}
    elif len(data) == 1 and isinstance(next(iter(data.values())), Tensor):
        embedding.vectors = _as_2d(next(iter(data.values())))
    else:
        raise ModelLoadError(f"Embedding '{path.name}' has an unknown layout (keys {sorted(map(str, data))[:5]})")
    return embedding


@dataclass
class EmbeddingTokens:
    """`PromptEncoder`'s `EmbeddingLookup` for one model: names tokenized with each encoder's tokenizer.

    Records the names it matched in `used` (for the infotext "TI hashes").
    """

    by_first_token: list[dict[int, list[tuple[list[int], Embedding]]]]
    used: dict[str, Embedding] = field(default_factory=dict)

    @classmethod
    def build(cls, tokenizers: Sequence[object], embeddings: Sequence[Embedding]) -> EmbeddingTokens:
        tables: list[dict[int, list[tuple[list[int], Embedding]]]] = []
        for tokenizer in tokenizers:
            table: dict[int, list[tuple[list[int], Embedding]]] = {}
            for embedding in embeddings:
                ids = tokenizer([embedding.name], truncation=False, add_special_tokens=False)["input_ids"][0]
                if ids:
                    table.setdefault(ids[0], []).append((list(ids), embedding))
            for candidates in table.values():  # longest name first, as A1111
                candidates.sort(key=lambda item: len(item[0]), reverse=True)
            tables.append(table)
        return cls(tables)

    def __call__(self, tokens: Sequence[int], position: int, encoder_index: int) -> EmbeddingMatch | None:
        table = self.by_first_token[encoder_index] if encoder_index < len(self.by_first_token) else {}
        for ids, embedding in table.get(tokens[position], ()):
            if list(tokens[position : position + len(ids)]) == ids:
                self.used[embedding.name] = embedding
                return EmbeddingMatch(embedding.name, len(ids), embedding.vectors_for(encoder_index))
        return None
