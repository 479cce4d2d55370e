"""A prompt expander that needs no weights: the subject first, then terms from curated vocabularies.

How the sampling parameters act here:
- `temperature`: more terms per prompt, and a flatter preference over each (common -> rare) list;
- `top_k`: only the first `top_k` entries of each vocabulary list are eligible (0 = all);
- `top_p`: nucleus cut over each list's weights;
- `repetition_penalty`: terms already used by earlier prompts of the same batch are less likely;
- `max_length`: the whole prompt stays within this many words (the subject is never cut);
- `seed`: a seeded `random.Random`; the same seed gives the same prompts.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bprompt import vocabulary as vocab
from bprompt.expander_base import PromptExpander
from bprompt.expander_common import BUILTIN_NAME, ExpandParams


@dataclass(frozen=True)
class Category:
    """One vocabulary list: its name, terms (common first), how many it may give, and how eagerly."""

    name: str
    terms: tuple[str, ...]
    max_picks: int
    weight: float


ART_CATEGORIES: tuple[Category, ...] = (
    Category("medium", vocab.MEDIUM_ART, 1, 0.0),
    Category("style", vocab.STYLE_ART, 2, 1.0),
    Category("lighting", vocab.LIGHTING, 2, 1.2),
    Category("composition", vocab.COMPOSITION, 1, 0.8),
    Category("palette", vocab.PALETTE, 2, 0.9),
    Category("texture", vocab.DETAIL_ART, 1, 0.6),
    Category("detail", vocab.DETAIL, 3, 1.3),
)
PHOTO_CATEGORIES: tuple[Category, ...] = (
    Category("medium", vocab.MEDIUM_PHOTO, 1, 0.0),
    Category("style", vocab.STYLE_PHOTO, 1, 0.8),
    Category("lighting", vocab.LIGHTING, 2, 1.2),
    Category("composition", vocab.COMPOSITION, 1, 0.9),
    Category("camera", vocab.CAMERA, 3, 1.1),
    Category("palette", vocab.PALETTE, 1, 0.7),
    Category("texture", vocab.DETAIL_PHOTO, 1, 0.7),
    Category("detail", vocab.DETAIL, 2, 1.0),
)

_GROUP_OF: dict[str, int] = {term: i for i, group in enumerate(vocab.EXCLUSIVE_GROUPS) for term in group}
PHOTO_SHARE = 0.4  # chance of a photographic prompt when the user's words do not decide it
MEDIUM_CHANCE = 0.9  # chance of adding a medium when the user named none


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` as whole words, ignoring case."""
    pattern = r"(?<![\w])" + re.escape(phrase.lower()) + r"(?![\w])"
    return re.search(pattern, text.lower()) is not None


def _any_phrase(text: str, phrases: tuple[str, ...]) -> bool:
    return any(contains_phrase(text, p) for p in phrases)


@dataclass
class _Draft:
    """One prompt being composed: the chosen terms per category and what they rule out."""

    subject: str
    words_left: int
    categories: tuple[Category, ...]
    chosen: dict[str, list[str]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    blocked_groups: set[int] = field(default_factory=set)

    def terms(self) -> list[str]:
        """The chosen terms in prompt order (the order of `categories`)."""
        return [t for c in self.categories for t in self.chosen.get(c.name, [])]

    def can_take(self, category: Category) -> bool:
        return (category.name not in self.closed and self.words_left > 0
                and len(self.chosen.get(category.name, [])) < category.max_picks)

    def allows(self, term: str) -> bool:
        """A term is allowed if it is new, not implied by the text so far, and contradicts nothing."""
        if _GROUP_OF.get(term, -1) in self.blocked_groups:
            return False
        if contains_phrase(self.subject, term):
            return False
        return not any(contains_phrase(term, t) or contains_phrase(t, term) for t in self.terms())

    def add(self, category: str, term: str) -> None:
        self.chosen.setdefault(category, []).append(term)
        self.words_left -= len(term.split())
        if term in _GROUP_OF:
            self.blocked_groups.add(_GROUP_OF[term])


class BuiltinExpander(PromptExpander):
    """Rule-based expander over `bprompt.vocabulary`; instant, deterministic for a seed, no model files."""

    name = BUILTIN_NAME

    def expand(self, prompt: str, params: ExpandParams) -> list[str]:
        """Up to `params.count` distinct prompts (fewer only when the cut vocabulary runs out)."""
        rng = random.Random(params.seed)
        usage: Counter[str] = Counter()
        results: list[str] = []
        for _ in range(params.count * 20):
            if len(results) >= params.count:
                break
            draft = self.compose(prompt, params, rng, usage)
            text = ", ".join([prompt, *draft.terms()])
            if text in results:
                continue
            results.append(text)
            usage.update(draft.terms())
        return results

    def compose(self, subject: str, params: ExpandParams, rng: random.Random,
                usage: Counter[str] | None = None) -> _Draft:
        """Pick the terms of one prompt for `subject`."""
        usage = usage if usage is not None else Counter()
        photo = self._is_photo(subject, rng)
        categories = PHOTO_CATEGORIES if photo else ART_CATEGORIES
        draft = _Draft(subject, params.max_length - len(subject.split()), categories)
        draft.blocked_groups = {g for term, g in _GROUP_OF.items() if contains_phrase(subject, term)}
        user_medium = _any_phrase(subject, vocab.PHOTO_HINTS + vocab.ART_HINTS)
        if not user_medium and rng.random() < MEDIUM_CHANCE:
            self._pick_into(draft, categories[0], params, rng, usage)
        monochrome = _any_phrase(" ".join([subject, *draft.terms()]), vocab.MONOCHROME_HINTS)
        open_categories = [c for c in categories if c.weight > 0 and not (monochrome and c.name == "palette")]
        target = max(1, min(14, round(rng.gauss(2.0 + 3.5 * params.temperature, 1.0))))
        added = 0
        while added < target and open_categories and draft.words_left > 0:
            category = rng.choices(open_categories, weights=[c.weight for c in open_categories])[0]
            if self._pick_into(draft, category, params, rng, usage):
                added += 1
            if not draft.can_take(category):
                open_categories.remove(category)
        return draft

    @staticmethod
    def _is_photo(subject: str, rng: random.Random) -> bool:
        draw = rng.random()  # drawn every time, so the random stream does not depend on the subject
        if _any_phrase(subject, vocab.PHOTO_HINTS):
            return True
        if _any_phrase(subject, vocab.ART_HINTS):
            return False
        return draw < PHOTO_SHARE

    @staticmethod
    def _pick_into(draft: _Draft, category: Category, params: ExpandParams, rng: random.Random,
                   usage: Counter[str]) -> bool:
        """Sample one term of `category` into `draft`; False when nothing eligible fits."""
        if not draft.can_take(category):
            return False
        term = sample_term(category.terms, params, rng, usage,
                           lambda t: draft.allows(t) and len(t.split()) <= draft.words_left)
        if term is None:
            draft.closed.add(category.name)
            return False
        draft.add(category.name, term)
        return True


def sample_term(terms: tuple[str, ...], params: ExpandParams, rng: random.Random, usage: Counter[str],
                allowed: Callable[[str], bool]) -> str | None:
    """Sample one allowed term from a common-first list with top-k, temperature, top-p and a repetition penalty."""
    pool = terms[:params.top_k] if params.top_k > 0 else terms
    exponent = 0.6 / max(params.temperature, 0.05)
    candidates = [(t, (rank + 1) ** -exponent / params.repetition_penalty ** usage[t])
                  for rank, t in enumerate(pool) if allowed(t)]
    if not candidates:
        return None
    candidates.sort(key=lambda item: item[1], reverse=True)
    total = sum(w for _, w in candidates)
    kept, cumulative = [], 0.0
    for term, weight in candidates:
        kept.append((term, weight))
        cumulative += weight
        if cumulative >= params.top_p * total:
            break
    return rng.choices([t for t, _ in kept], weights=[w for _, w in kept])[0]
