"""The language-model expander, over a tiny random BLOOM built offline in the test."""
from __future__ import annotations

from pathlib import Path

import pytest
from bprompt.expander_common import ExpandParams, clean_generated
from bprompt.expander_transformers import PROMPT_TEMPLATE, TransformersExpander
from bprompt.registry import ExpanderRegistry

from modules.errors import ModelLoadError
from tests.beautifulprompt.conftest import TINY_MODEL


def test_template_is_the_published_one() -> None:
    assert PROMPT_TEMPLATE.format(prompt="a cat") == (
        "Instruction: Give a simple description of the image to generate a drawing prompt.\nInput: a cat\nOutput:")


def test_clean_generated_keeps_one_line() -> None:
    assert clean_generated("  a cat,  oil painting ,\nInput: more") == "a cat, oil painting"
    assert clean_generated("\n\n a dog\nsecond line") == "a dog"
    assert clean_generated("Instruction: x") == ""


def test_generates_count_prompts_deterministically(bp_models_dir: Path) -> None:
    expander = TransformersExpander(bp_models_dir / TINY_MODEL)
    assert not expander.loaded
    params = ExpandParams(count=3, max_length=12, seed=42)
    first = expander.expand("a cat", params)
    assert expander.loaded
    assert len(first) == 3 and all(isinstance(p, str) and p and "\n" not in p for p in first)
    assert expander.expand("a cat", params) == first
    assert expander.expand("a cat", ExpandParams(count=3, max_length=12, seed=43)) != first


def test_registry_lists_and_caches_models(bp_models_dir: Path) -> None:
    registry = ExpanderRegistry(bp_models_dir)
    assert registry.names()[1:] == [TINY_MODEL]  # "not-a-model" has no config.json
    expander = registry.get(TINY_MODEL)
    assert registry.get(TINY_MODEL) is expander
    result = registry.expand("a castle", ExpandParams(count=2, max_length=8, seed=1), TINY_MODEL)
    assert result.model == TINY_MODEL and result.seed == 1 and len(result.prompts) == 2
    registry.unload()
    assert not expander.loaded


def test_broken_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError) as err:
        TransformersExpander(folder).expand("a cat", ExpandParams(seed=1))
    assert err.value.field == "model"
