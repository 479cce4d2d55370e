"""Weighted, chunked CLIP prompt encoding: A1111's `FrozenCLIPEmbedderWithCustomWords` for diffusers components.

A prompt is split into emphasis pieces (`prompt_parser.parse_prompt_attention`), each piece is tokenized on its
own, and the tokens are packed into chunks of 75 (+ BOS + EOS = 77). BREAK closes a chunk; a chunk that fills up
moves the words after a recent comma to the next one. Each chunk is encoded separately, its per-token multipliers
are applied ("emphasis"), and the chunks are concatenated along the token axis: hidden is `[1, 77 * k, D]`.

Families (picked from the components unless `family` is given):
- "sd1": one `CLIPTextModel`, pad = EOS; `clip_skip` n > 1 takes `hidden_states[-n]` then `final_layer_norm`.
- "sd2": one `CLIPTextModel` whose tokenizer pads with a different id (OpenCLIP "!" = 0); tokens after the
  first EOS become that pad id. A1111 ignores CLIP skip for SD2 (the 23-layer diffusers model already ends at
  OpenCLIP's penultimate layer), so `last_hidden_state` is used.
- "sdxl": CLIP-L + OpenCLIP-bigG (`CLIPTextModelWithProjection`); both give `hidden_states[-2]` without final
  norm (A1111 ignores CLIP skip here too); hidden = concat on the feature axis; pooled = encoder 2's projected
  EOS vector of the first chunk.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch

from modules import prompt_parser

CHUNK_LENGTH = 75
EMPHASIS_MODES = ("Original", "No norm", "Ignore", "None")
Family = Literal["sd1", "sd2", "sdxl"]


@dataclass
class EncodedPrompt:
    """Text conditioning of one prompt.

    Args:
        hidden (`torch.Tensor`): `[1, 77 * chunks, D]` token embeddings (`encoder_hidden_states`).
        pooled (`torch.Tensor`, *optional*): `[1, P]` pooled projection (SDXL `text_embeds`), else None.
    """

    hidden: torch.Tensor
    pooled: torch.Tensor | None = None


@dataclass(frozen=True)
class EmbeddingMatch:
    """A textual-inversion embedding found in a token sequence.

    Args:
        name (`str`): embedding name (for infotext "TI hashes" and logs).
        length_in_tokens (`int`): how many prompt tokens the match consumes.
        vectors (`torch.Tensor`): `[n, D]` vectors for the queried encoder; they replace n placeholder tokens.
    """

    name: str
    length_in_tokens: int
    vectors: torch.Tensor


class EmbeddingLookup(Protocol):
    """Seam for textual inversion: return the embedding whose token ids start at `tokens[position]`, or None."""

    def __call__(self, tokens: Sequence[int], position: int, encoder_index: int) -> EmbeddingMatch | None: ...


@dataclass
class PromptChunk:
    """77 token ids (BOS, 75 tokens, EOS), one multiplier per token, and TI vectors to insert at offsets."""

    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)
    fixes: list[tuple[int, EmbeddingMatch]] = field(default_factory=list)


@dataclass
class _Branch:
    """One tokenizer + text model pair and how its output is read."""

    tokenizer: Any
    model: Any
    index: int
    layer: Literal["last", "skip", "skip_no_norm", "penultimate"]
    id_start: int
    id_end: int
    id_pad: int
    comma_token: int | None


class PromptEncoder:
    """Encode A1111-syntax prompts (emphasis, BREAK, unlimited length) with diffusers CLIP components.

    Args:
        tokenizer: `CLIPTokenizer` of the (first) text encoder.
        text_encoder: `CLIPTextModel` (SD1/SD2, SDXL's CLIP-L).
        tokenizer_2, text_encoder_2 (*optional*): SDXL's second tokenizer and `CLIPTextModelWithProjection`.
        emphasis (`str`): "Original" (weights, then mean restored), "No norm" (weights only), "Ignore" (parse but
            drop weights), "None" (brackets and BREAK are literal text).
        clip_skip (`int`): A1111 `CLIP_stop_at_last_layers` (1 = last layer); used by SD1 only, clamped to the depth.
        sdxl_clip_l_skip (`bool`): A1111 `sdxl_clip_l_skip`: SDXL's CLIP-L takes `hidden_states[-clip_skip]`
            (no final norm) instead of the penultimate layer.
        comma_padding_backtrack (`int`): A1111 `comma_padding_backtrack`; 0 disables it.
        embeddings (`EmbeddingLookup`, *optional*): textual-inversion lookup.
        family (`str`, *optional*): "sd1", "sd2" or "sdxl"; inferred from the components when omitted.
        cache_size (`int`): how many `encode_batch` results to keep (identical text within a request).
    """

    def __init__(self, tokenizer: Any, text_encoder: Any, tokenizer_2: Any = None, text_encoder_2: Any = None, *,
                 emphasis: str = "Original", clip_skip: int = 1, comma_padding_backtrack: int = 20,
                 sdxl_clip_l_skip: bool = False, embeddings: EmbeddingLookup | None = None,
                 family: Family | None = None, cache_size: int = 32):
        if emphasis not in EMPHASIS_MODES:
            raise ValueError(f"`emphasis` must be one of {EMPHASIS_MODES}, got {emphasis!r}")
        if clip_skip < 1:
            raise ValueError(f"`clip_skip` must be >= 1, got {clip_skip}")
        if (tokenizer_2 is None) != (text_encoder_2 is None):
            raise ValueError("`tokenizer_2` and `text_encoder_2` must be given together")
        if family is None:
            pads_with_eos = tokenizer.pad_token_id in (None, tokenizer.eos_token_id)
            family = "sdxl" if text_encoder_2 is not None else ("sd1" if pads_with_eos else "sd2")
        if (family == "sdxl") != (text_encoder_2 is not None):
            raise ValueError(f"`family` {family!r} does not match the number of text encoders")
        self.family: Family = family
        self.emphasis = emphasis
        self.clip_skip = clip_skip
        self.comma_padding_backtrack = comma_padding_backtrack
        self.embeddings = embeddings
        layer = {"sd1": "last" if clip_skip == 1 else "skip", "sd2": "last", "sdxl": "penultimate"}[family]
        first_layer = "skip_no_norm" if sdxl_clip_l_skip and family == "sdxl" else layer
        self._branches = [self._branch(tokenizer, text_encoder, 0, first_layer)]
        if text_encoder_2 is not None:
            self._branches.append(self._branch(tokenizer_2, text_encoder_2, 1, layer))
        self._cache_size = cache_size
        self._cache: dict[tuple[str, ...], list[EncodedPrompt]] = {}
        self._line_cache: dict[tuple[int, str], tuple[list[PromptChunk], int]] = {}

    @staticmethod
    def _branch(tokenizer: Any, model: Any, index: int, layer: str) -> _Branch:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        return _Branch(tokenizer, model, index, layer, tokenizer.bos_token_id, tokenizer.eos_token_id, pad,
                       tokenizer.get_vocab().get(",</w>"))

    # ----------------------------------------------------------------------------------------------- tokenization
    def tokenize(self, texts: Sequence[str], encoder_index: int = 0) -> list[list[PromptChunk]]:
        """Split each text into 77-token `PromptChunk`s (token ids + multipliers) for the given encoder."""
        return [self._tokenize_line(text, self._branches[encoder_index])[0] for text in texts]

    def count_tokens(self, text: str) -> tuple[int, int]:
        """Return `(prompt tokens, token limit before one more chunk)` as A1111's token counter shows."""
        token_count = self._tokenize_line(text, self._branches[0])[1]
        return token_count, math.ceil(max(token_count, 1) / CHUNK_LENGTH) * CHUNK_LENGTH

    def empty_chunk(self, encoder_index: int = 0) -> PromptChunk:
        """A chunk holding no prompt tokens: BOS followed by 76 EOS."""
        branch = self._branches[encoder_index]
        return PromptChunk([branch.id_start] + [branch.id_end] * (CHUNK_LENGTH + 1), [1.0] * (CHUNK_LENGTH + 2))

    def _tokenize_line(self, line: str, branch: _Branch) -> tuple[list[PromptChunk], int]:
        key = (branch.index, line)
        if key not in self._line_cache:
            if len(self._line_cache) >= 8 * self._cache_size:
                self._line_cache.clear()
            self._line_cache[key] = self._tokenize_line_uncached(line, branch)
        return self._line_cache[key]

    def _tokenize_line_uncached(self, line: str, branch: _Branch) -> tuple[list[PromptChunk], int]:
        if self.emphasis == "None":
            parsed = [[line, 1.0]]
        else:
            parsed = prompt_parser.parse_prompt_attention(line)
        tokenized = branch.tokenizer([text for text, _ in parsed], truncation=False, add_special_tokens=False,
                                     verbose=False)["input_ids"]
        chunks: list[PromptChunk] = []
        chunk = PromptChunk()
        token_count = 0
        last_comma = -1
        backtrack = self.comma_padding_backtrack

        def next_chunk(is_last: bool = False) -> None:
            nonlocal chunk, token_count, last_comma
            token_count += len(chunk.tokens) if is_last else CHUNK_LENGTH
            to_add = CHUNK_LENGTH - len(chunk.tokens)
            chunk.tokens = [branch.id_start] + chunk.tokens + [branch.id_end] * (max(to_add, 0) + 1)
            chunk.multipliers = [1.0] + chunk.multipliers + [1.0] * (max(to_add, 0) + 1)
            last_comma = -1
            chunks.append(chunk)
            chunk = PromptChunk()

        for tokens, (text, weight) in zip(tokenized, parsed):
            if text == "BREAK" and weight == -1:
                next_chunk()
                continue
            position = 0
            while position < len(tokens):
                token = tokens[position]
                if token == branch.comma_token:
                    last_comma = len(chunk.tokens)
                elif (backtrack != 0 and len(chunk.tokens) == CHUNK_LENGTH and last_comma != -1
                      and len(chunk.tokens) - last_comma <= backtrack):
                    cut = last_comma + 1  # the words after the comma move to the next chunk
                    moved = PromptChunk(chunk.tokens[cut:], chunk.multipliers[cut:],
                                        [(offset - cut, match) for offset, match in chunk.fixes if offset >= cut])
                    chunk.tokens, chunk.multipliers = chunk.tokens[:cut], chunk.multipliers[:cut]
                    chunk.fixes = [(offset, match) for offset, match in chunk.fixes if offset < cut]
                    next_chunk()
                    chunk = moved
                if len(chunk.tokens) == CHUNK_LENGTH:
                    next_chunk()
                match = self.embeddings(tokens, position, branch.index) if self.embeddings is not None else None
                if match is None:
                    chunk.tokens.append(token)
                    chunk.multipliers.append(weight)
                    position += 1
                    continue
                count = int(match.vectors.shape[0])
                if len(chunk.tokens) + count > CHUNK_LENGTH:  # an embedding never straddles two chunks
                    next_chunk()
                chunk.fixes.append((len(chunk.tokens), match))
                chunk.tokens += [0] * count
                chunk.multipliers += [weight] * count
                position += match.length_in_tokens

        if chunk.tokens or not chunks:
            next_chunk(is_last=True)
        return chunks, token_count

    # ---------------------------------------------------------------------------------------------------- encoding
    def encode(self, text: str) -> EncodedPrompt:
        """Encode one prompt; returns hidden `[1, 77 * k, D]` and, for SDXL, pooled `[1, P]`."""
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> list[EncodedPrompt]:
        """Encode texts together as A1111 does for the steps of one prompt's schedule.

        All texts get the same chunk count (missing chunks are empty chunks) and "Original" emphasis restores
        the mean over the whole batch, exactly like A1111's `get_learned_conditioning` on a schedule.
        """
        key = tuple(texts)
        if not key:
            return []
        if key in self._cache:
            return self._cache[key]
        per_branch = [[self._tokenize_line(text, branch)[0] for text in texts] for branch in self._branches]
        chunk_count = max(len(chunks) for lines in per_branch for chunks in lines)
        hidden_parts, pooled = [], None
        for branch, lines in zip(self._branches, per_branch):
            zs = []
            for i in range(chunk_count):
                batch = [chunks[i] if i < len(chunks) else self.empty_chunk(branch.index) for chunks in lines]
                z, chunk_pooled = self._encode_chunks(branch, batch)
                zs.append(z)
                if i == 0 and chunk_pooled is not None:
                    pooled = chunk_pooled
            hidden_parts.append(torch.cat(zs, dim=1))
        hidden = torch.cat(hidden_parts, dim=-1)
        result = [EncodedPrompt(hidden[j : j + 1], None if pooled is None else pooled[j : j + 1])
                  for j in range(len(texts))]
        if len(self._cache) >= self._cache_size:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = result
        return result

    def clear_cache(self) -> None:
        """Forget cached encodings and tokenizations (call between requests if the encoder is kept)."""
        self._cache.clear()
        self._line_cache.clear()

    @torch.no_grad()
    def _encode_chunks(self, branch: _Branch, batch: list[PromptChunk]) -> tuple[torch.Tensor, torch.Tensor | None]:
        model = branch.model
        tokens = torch.tensor([chunk.tokens for chunk in batch], dtype=torch.long, device=model.device)
        if branch.id_pad != branch.id_end:  # OpenCLIP: everything after the first EOS is the pad id
            for row, chunk in enumerate(batch):
                tokens[row, chunk.tokens.index(branch.id_end) + 1 :] = branch.id_pad
        fixes = [(row, offset, match) for row, chunk in enumerate(batch) for offset, match in chunk.fixes]
        with _insert_vectors(model, fixes):
            outputs = model(input_ids=tokens, output_hidden_states=branch.layer != "last")
        if branch.layer == "last":
            z = outputs.last_hidden_state
        elif branch.layer == "penultimate":
            z = outputs.hidden_states[-2]
        elif branch.layer == "skip_no_norm":
            z = outputs.hidden_states[-min(self.clip_skip, len(outputs.hidden_states))]
        else:
            depth = min(self.clip_skip, len(outputs.hidden_states))
            # transformers 5 flattens CLIPTextModel; older releases nest it under `text_model`
            z = getattr(model, "text_model", model).final_layer_norm(outputs.hidden_states[-depth])
        pooled = getattr(outputs, "text_embeds", None) if branch.index == 1 else None
        return self._apply_emphasis(z, batch), pooled

    def _apply_emphasis(self, z: torch.Tensor, batch: list[PromptChunk]) -> torch.Tensor:
        if self.emphasis in ("Ignore", "None"):
            return z
        multipliers = torch.tensor([chunk.multipliers for chunk in batch], dtype=torch.float32, device=z.device)
        weighted = z.float() * multipliers.unsqueeze(-1)
        if self.emphasis == "Original":
            weighted = weighted * (z.float().mean() / weighted.mean())
        return weighted.to(z.dtype)


@contextlib.contextmanager
def _insert_vectors(model: Any, fixes: list[tuple[int, int, EmbeddingMatch]]) -> Iterator[None]:
    """Replace the token embeddings at `(row, offset)` with TI vectors while the model runs."""
    if not fixes:
        yield
        return

    def hook(_module: torch.nn.Module, _args: Any, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        for row, offset, match in fixes:
            vectors = match.vectors.to(device=output.device, dtype=output.dtype)
            output[row, offset + 1 : offset + 1 + vectors.shape[0]] = vectors  # +1: BOS
        return output

    handle = model.get_input_embeddings().register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
