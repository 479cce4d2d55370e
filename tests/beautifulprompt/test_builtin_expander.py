"""The built-in (vocabulary) expander."""
from __future__ import annotations

import statistics

import pytest
from bprompt import vocabulary as vocab
from bprompt.expander_builtin import BuiltinExpander
from bprompt.expander_common import BUILTIN_NAME, ExpandParams
from bprompt.registry import ExpanderRegistry

from modules.errors import InvalidRequestError

ALL_TERMS = {t for group in (vocab.MEDIUM_ART, vocab.MEDIUM_PHOTO, vocab.STYLE_ART, vocab.STYLE_PHOTO, vocab.LIGHTING,
                             vocab.COMPOSITION, vocab.CAMERA, vocab.PALETTE, vocab.DETAIL, vocab.DETAIL_ART,
                             vocab.DETAIL_PHOTO) for t in group}


def expand(prompt: str = "a cat", **kw) -> list[str]:
    return BuiltinExpander().expand(prompt, ExpandParams(**{"seed": 7, **kw}))


def added_terms(prompt: str, result: str) -> list[str]:
    assert result.startswith(prompt)
    rest = result[len(prompt):].lstrip(", ")
    return [t for t in rest.split(", ") if t] if rest else []


def test_vocabularies_are_substantial_and_clean() -> None:
    for group in (vocab.MEDIUM_ART, vocab.MEDIUM_PHOTO, vocab.STYLE_ART, vocab.STYLE_PHOTO, vocab.LIGHTING,
                  vocab.COMPOSITION, vocab.CAMERA, vocab.PALETTE, vocab.DETAIL):
        assert 20 <= len(group) <= 40
        assert len(set(group)) == len(group)
        assert all(t == t.strip() and "," not in t for t in group)
    assert all(t in ALL_TERMS for g in vocab.EXCLUSIVE_GROUPS for t in g)


def test_subject_first_and_count_distinct() -> None:
    results = expand("a lighthouse in a storm", count=6)
    assert len(results) == len(set(results)) == 6
    for r in results:
        assert r.startswith("a lighthouse in a storm, ")
        assert all(t in ALL_TERMS for t in added_terms("a lighthouse in a storm", r))


def test_same_seed_same_prompts_other_seed_differs() -> None:
    assert expand(seed=123) == expand(seed=123)
    assert expand(seed=123) != expand(seed=124)


def test_no_term_twice_and_no_contradictions() -> None:
    for seed in range(40):
        for r in expand(seed=seed, temperature=2.0, count=4, max_length=200):
            terms = added_terms("a cat", r)
            assert len(terms) == len(set(terms))
            for group in vocab.EXCLUSIVE_GROUPS:
                assert len(group.intersection(terms)) <= 1, r


def test_terms_already_in_the_prompt_are_not_added() -> None:
    prompt = "oil painting of a cat, golden hour, highly detailed"
    for seed in range(30):
        for r in expand(prompt, seed=seed, temperature=2.0, max_length=200):
            terms = added_terms(prompt, r)
            assert not {"oil painting", "golden hour", "highly detailed"} & set(terms)
            assert not set(terms) & {"blue hour", "moonlight"}  # same group as the user's "golden hour"
            assert not set(terms) & set(vocab.MEDIUM_ART + vocab.MEDIUM_PHOTO)  # the user chose the medium


@pytest.mark.parametrize("max_length", [3, 6, 12, 30])
def test_respects_max_length_in_words(max_length: int) -> None:
    for seed in range(10):
        for r in expand("a red fox", seed=seed, max_length=max_length, temperature=2.0):
            assert r.startswith("a red fox")
            assert len(r.split()) <= max(max_length, 3)


def test_temperature_adds_more_and_rarer_terms() -> None:
    def stats(temperature: float) -> tuple[float, float]:
        counts, ranks = [], []
        for seed in range(30):
            for r in expand(seed=seed, temperature=temperature, max_length=300, count=2):
                terms = added_terms("a cat", r)
                counts.append(len(terms))
                ranks += [vocab.LIGHTING.index(t) for t in terms if t in vocab.LIGHTING]
        return statistics.mean(counts), statistics.mean(ranks)

    cold_count, cold_rank = stats(0.3)
    hot_count, hot_rank = stats(2.0)
    assert hot_count > cold_count + 2
    assert hot_rank > cold_rank + 2


def test_top_k_limits_the_vocabulary() -> None:
    allowed = {t for g in (vocab.MEDIUM_ART, vocab.MEDIUM_PHOTO, vocab.STYLE_ART, vocab.STYLE_PHOTO, vocab.LIGHTING,
                           vocab.COMPOSITION, vocab.CAMERA, vocab.PALETTE, vocab.DETAIL, vocab.DETAIL_ART,
                           vocab.DETAIL_PHOTO) for t in g[:2]}
    for seed in range(20):
        for r in expand(seed=seed, top_k=2, temperature=2.0):
            assert set(added_terms("a cat", r)) <= allowed


def test_registry_validates_and_reports_seed() -> None:
    registry = ExpanderRegistry(None)
    assert registry.names() == [BUILTIN_NAME]
    result = registry.expand("  a cat  ", ExpandParams(count=2))
    assert result.model == BUILTIN_NAME and 0 <= result.seed < 2**32 and len(result.prompts) == 2
    assert registry.expand("a cat", ExpandParams(seed=result.seed, count=2)).prompts == result.prompts
    with pytest.raises(InvalidRequestError) as err:
        registry.expand("a cat", model="nope")
    assert err.value.field == "model"
    with pytest.raises(InvalidRequestError) as err:
        registry.expand(" , ")
    assert err.value.field == "prompt"
    with pytest.raises(InvalidRequestError) as err:
        registry.expand("a cat", ExpandParams(top_p=0))
    assert err.value.field == "top_p"
