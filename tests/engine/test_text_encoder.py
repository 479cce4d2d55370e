"""PromptEncoder / conditioning with tiny seeded CLIP text models and the real CLIP BPE tokenizer (offline)."""
from __future__ import annotations

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from modules.engine.conditioning import (
    conditioning_at_step,
    get_conditioning_schedule,
    get_multicond_schedule,
    pad_to_same_length,
    stack_conds,
)
from modules.engine.text_encoder import EmbeddingMatch, PromptEncoder
from modules.model_registry.clip_vocab import load_clip_tokenizer

BOS, EOS, A, CAT, COMMA = 49406, 49407, 320, 2368, 267


def _config(**extra) -> CLIPTextConfig:
    options = dict(vocab_size=49408, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                   max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407)
    return CLIPTextConfig(**{**options, **extra})


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return load_clip_tokenizer(tmp_path_factory.mktemp("tok"), flavour="clip")


@pytest.fixture(scope="module")
def tokenizer_2(tmp_path_factory):
    return load_clip_tokenizer(tmp_path_factory.mktemp("tok2"), flavour="openclip")


def _tiny(cls, **extra):
    torch.manual_seed(0)
    model = cls(_config(**extra)).eval()
    # A freshly initialised LayerNorm has bias 0, so every output vector has mean exactly 0 and "Original"
    # emphasis (which divides by the mean) would be degenerate; trained CLIP models have a non-zero bias.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.bias.normal_(0.0, 0.5)
    return model


@pytest.fixture(scope="module")
def model():
    return _tiny(CLIPTextModel)


@pytest.fixture(scope="module")
def model_2():
    return _tiny(CLIPTextModelWithProjection, projection_dim=16, hidden_size=48, hidden_act="gelu")


def test_real_tokenizer(tokenizer, tokenizer_2):
    assert tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert (tokenizer.pad_token_id, tokenizer_2.pad_token_id) == (EOS, 0)


def test_chunk_layout(tokenizer, model):
    enc = PromptEncoder(tokenizer, model)
    (chunk,) = enc.tokenize(["a (cat:1.5)"])[0]
    assert chunk.tokens == [BOS, A, CAT] + [EOS] * 74
    assert chunk.multipliers == [1.0, 1.0, 1.5] + [1.0] * 74
    assert enc.count_tokens("a (cat:1.5)") == (2, 75)
    assert enc.tokenize([""])[0][0].tokens == [BOS] + [EOS] * 76


def test_no_norm_scales_weighted_tokens_exactly(tokenizer, model):
    plain = PromptEncoder(tokenizer, model, emphasis="No norm").encode("a cat").hidden
    weighted = PromptEncoder(tokenizer, model, emphasis="No norm").encode("a (cat:1.5)").hidden
    assert plain.shape == (1, 77, 32)
    torch.testing.assert_close(weighted[:, 2], plain[:, 2] * 1.5)
    torch.testing.assert_close(weighted[:, :2], plain[:, :2])
    torch.testing.assert_close(weighted[:, 3:], plain[:, 3:])


def test_original_restores_the_mean(tokenizer, model):
    plain = PromptEncoder(tokenizer, model).encode("a cat").hidden
    weighted = PromptEncoder(tokenizer, model, emphasis="Original").encode("a (cat:1.5)").hidden
    multipliers = torch.ones(1, 77, 1)
    multipliers[:, 2] = 1.5
    expected = plain * multipliers
    expected = expected * (plain.mean() / expected.mean())
    torch.testing.assert_close(weighted, expected)
    torch.testing.assert_close(weighted.mean(), plain.mean())


def test_ignore_and_none(tokenizer, model):
    plain = PromptEncoder(tokenizer, model).encode("a cat dog").hidden
    ignored = PromptEncoder(tokenizer, model, emphasis="Ignore").encode("a (cat:1.5) [dog]").hidden
    torch.testing.assert_close(ignored, plain)
    literal = PromptEncoder(tokenizer, model, emphasis="None")
    ids = tokenizer("(cat) BREAK x", add_special_tokens=False)["input_ids"]  # "(", "cat", ")", "break", "x"
    assert len(ids) == 5
    (chunk,) = literal.tokenize(["(cat) BREAK x"])[0]
    assert chunk.tokens[:7] == [BOS, *ids, EOS] and chunk.multipliers == [1.0] * 77


def test_long_prompt_gives_two_chunks(tokenizer, model):
    enc = PromptEncoder(tokenizer, model)
    assert len(enc.tokenize(["a " * 75])[0]) == 1
    chunks = enc.tokenize(["a " * 76])[0]
    assert [c.tokens[:3] for c in chunks] == [[BOS, A, A], [BOS, A, EOS]]
    assert enc.count_tokens("a " * 76) == (76, 150)
    hidden = enc.encode("a " * 76).hidden
    assert hidden.shape == (1, 154, 32)
    # chunks are encoded separately: the second chunk equals the encoding of a lone "a"
    torch.testing.assert_close(hidden[:, 77:], enc.encode("a").hidden)


def test_break_starts_a_new_chunk(tokenizer, model):
    enc = PromptEncoder(tokenizer, model)
    chunks = enc.tokenize(["a BREAK cat"])[0]
    assert [c.tokens[:3] for c in chunks] == [[BOS, A, EOS], [BOS, CAT, EOS]]
    assert enc.encode("a BREAK cat").hidden.shape == (1, 154, 32)
    assert len(enc.tokenize(["BREAK cat"])[0]) == 2  # a leading BREAK emits an empty chunk, as in A1111


def test_comma_backtrack_moves_words(tokenizer, model):
    text = "a " * 70 + ", " + "cat " * 10  # the chunk fills 4 tokens after the comma
    moved = PromptEncoder(tokenizer, model).tokenize([text])[0]
    assert moved[0].tokens[70:73] == [A, COMMA, EOS]
    assert moved[1].tokens[:12] == [BOS] + [CAT] * 10 + [EOS]
    kept = PromptEncoder(tokenizer, model, comma_padding_backtrack=0).tokenize([text])[0]
    assert kept[0].tokens[71:77] == [COMMA, CAT, CAT, CAT, CAT, EOS]
    assert kept[1].tokens[:8] == [BOS] + [CAT] * 6 + [EOS]
    far = PromptEncoder(tokenizer, model, comma_padding_backtrack=3).tokenize([text])[0]
    assert far[0].tokens == kept[0].tokens  # the comma is 4 tokens back: too far


def test_clip_skip(tokenizer, model):
    ids = torch.tensor([[BOS, A, CAT] + [EOS] * 74])
    skip1 = PromptEncoder(tokenizer, model, clip_skip=1).encode("a cat").hidden
    skip2 = PromptEncoder(tokenizer, model, clip_skip=2).encode("a cat").hidden
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
        torch.testing.assert_close(skip1, out.last_hidden_state)
        torch.testing.assert_close(skip2, model.final_layer_norm(out.hidden_states[-2]))
    assert not torch.allclose(skip1, skip2)
    PromptEncoder(tokenizer, model, clip_skip=12).encode("a cat")  # deeper than the model: clamped


def test_sd2_pads_after_eos_and_ignores_clip_skip(tokenizer_2, model):
    enc = PromptEncoder(tokenizer_2, model, clip_skip=2)
    assert enc.family == "sd2"
    with torch.no_grad():
        expected = model(input_ids=torch.tensor([[BOS, A, CAT, EOS] + [0] * 73])).last_hidden_state
    torch.testing.assert_close(enc.encode("a cat").hidden, expected)


def test_sdxl_two_encoders(tokenizer, tokenizer_2, model, model_2):
    enc = PromptEncoder(tokenizer, model, tokenizer_2, model_2)
    assert enc.family == "sdxl"
    result = enc.encode("a cat")
    assert result.hidden.shape == (1, 77, 32 + 48)
    assert result.pooled.shape == (1, 16)
    with torch.no_grad():
        out1 = model(input_ids=torch.tensor([[BOS, A, CAT] + [EOS] * 74]), output_hidden_states=True)
        out2 = model_2(input_ids=torch.tensor([[BOS, A, CAT, EOS] + [0] * 73]), output_hidden_states=True)
    torch.testing.assert_close(result.hidden[..., :32], out1.hidden_states[-2])
    torch.testing.assert_close(result.hidden[..., 32:], out2.hidden_states[-2])
    torch.testing.assert_close(result.pooled, out2.text_embeds)
    skipped = PromptEncoder(tokenizer, model, tokenizer_2, model_2, clip_skip=1, sdxl_clip_l_skip=True)
    torch.testing.assert_close(skipped.encode("a cat").hidden[..., :32], out1.hidden_states[-1])
    long = enc.encode("a " * 80)
    assert long.hidden.shape == (1, 154, 80)
    assert long.pooled.shape == (1, 16)  # pooled comes from the first chunk


def test_textual_inversion_seam(tokenizer, model):
    cat_vector = model.get_input_embeddings().weight[CAT].detach()

    def lookup(tokens, position, encoder_index):
        if tokens[position] == CAT:
            return EmbeddingMatch("cat-ti", 1, torch.stack([cat_vector, cat_vector]))
        return None

    enc = PromptEncoder(tokenizer, model, embeddings=lookup)
    (chunk,) = enc.tokenize(["a (cat:2)"])[0]
    assert chunk.tokens[:5] == [BOS, A, 0, 0, EOS]
    assert chunk.multipliers[:5] == [1.0, 1.0, 2.0, 2.0, 1.0]
    assert [offset for offset, _ in chunk.fixes] == [1]  # A1111: offsets count from after BOS
    plain = PromptEncoder(tokenizer, model, emphasis="No norm").encode("a cat cat").hidden
    torch.testing.assert_close(PromptEncoder(tokenizer, model, embeddings=lookup, emphasis="No norm")
                               .encode("a cat").hidden, plain)
    # an embedding that does not fit in the current chunk moves whole to the next one
    (first, second) = enc.tokenize(["a " * 74 + "cat"])[0]
    assert first.tokens[74:] == [A, EOS, EOS] and second.tokens[:4] == [BOS, 0, 0, EOS]


def test_encode_cache(tokenizer, model):
    enc = PromptEncoder(tokenizer, model, cache_size=2)
    first = enc.encode("a cat")
    assert enc.encode("a cat") is first
    enc.clear_cache()
    assert enc.encode("a cat") is not first


def test_conditioning_schedule(tokenizer, model):
    enc = PromptEncoder(tokenizer, model)
    (schedule,) = get_conditioning_schedule(enc, ["a [cat:dog:3]"], 10)
    assert [entry.end_at_step for entry in schedule] == [3, 10]
    assert conditioning_at_step(schedule, 1) is schedule[0].cond
    assert conditioning_at_step(schedule, 3) is schedule[0].cond
    assert conditioning_at_step(schedule, 4) is schedule[1].cond
    torch.testing.assert_close(schedule[0].cond.hidden, enc.encode("a cat").hidden)
    # texts of one schedule share a chunk count: the short one gets an empty chunk
    (long,) = get_conditioning_schedule(enc, ["[" + "a " * 80 + "::2]cat"], 4)
    assert [e.cond.hidden.shape[1] for e in long] == [154, 154]
    torch.testing.assert_close(long[1].cond.hidden[:, 77:], enc.encode("").hidden)


def test_multicond_schedule(tokenizer, model):
    enc = PromptEncoder(tokenizer, model)
    (parts,) = get_multicond_schedule(enc, ["a cat AND a dog:0.5"], 10)
    assert [weight for _, weight in parts] == [1.0, 0.5]
    torch.testing.assert_close(parts[1][0][0].cond.hidden, enc.encode(" a dog").hidden)


def test_sdxl_empty_negative_is_zero(tokenizer, tokenizer_2, model, model_2):
    enc = PromptEncoder(tokenizer, model, tokenizer_2, model_2)
    (neg,) = get_conditioning_schedule(enc, [""], 10, is_negative_prompt=True)
    assert neg[0].cond.hidden.shape == (1, 77, 80) and not neg[0].cond.hidden.any() and not neg[0].cond.pooled.any()
    (pos,) = get_conditioning_schedule(enc, [""], 10)
    assert pos[0].cond.hidden.any()


def test_padding_helpers():
    short, long = torch.randn(2, 77, 4), torch.randn(2, 154, 4)
    empty = torch.randn(1, 77, 4)
    cond, uncond = pad_to_same_length(long, short, empty)
    assert uncond.shape == (2, 154, 4) and cond is long
    torch.testing.assert_close(uncond[:, 77:], empty.expand(2, -1, -1))
    cond, uncond = pad_to_same_length(short, long)
    torch.testing.assert_close(cond[:, 77:], short[:, -1:].expand(-1, 77, -1))
    stacked = stack_conds([short[0], long[0]])
    assert stacked.shape == (2, 154, 4)
    torch.testing.assert_close(stacked[0, 77:], short[0, -1:].expand(77, -1))


def test_rejects_bad_options(tokenizer, model):
    with pytest.raises(ValueError, match="emphasis"):
        PromptEncoder(tokenizer, model, emphasis="Loud")
    with pytest.raises(ValueError, match="clip_skip"):
        PromptEncoder(tokenizer, model, clip_skip=0)
