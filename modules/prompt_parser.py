"""A1111-compatible prompt syntax: emphasis, prompt editing/alternation, AND (extra-network tags: extra_networks.py).

Pure Python (no torch). Behaviour follows AUTOMATIC1111 1.10 `modules/prompt_parser.py` (see docs ref
a1111-api.md §10); the schedule grammar, which A1111 parses with
lark, is implemented here by a small hand-written recursive-descent parser that accepts the same language.
Results are lists (not tuples) so they compare equal to A1111's own doctest outputs.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "get_learned_conditioning_prompt_schedules",
    "get_multicond_prompt_list",
    "parse_prompt_attention",
    "split_multicond",
]

# Prompt editing / alternation: "[from:to:when]", "[to:when]", "[from::when]", "[a|b|c]"
# Terminals of A1111's grammar. Like lark's dynamic Earley lexer, every terminal takes its longest match.
_PLAIN = re.compile(r"(?:[^\\\[\]():|]|\\.)+")
_WHITESPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"[+-]?(?:\d+[eE][+-]?\d+|(?:\d+\.(?:\d+)?|\.\d+)(?:[eE][+-]?\d+)?|\d+)")


@dataclass
class _Scheduled:
    before: list | None  # None when the "[to:when]" form is used
    after: list
    when: str
    step: int = 0  # `when` resolved to a step number


@dataclass
class _Alternate:
    options: list[list]


class _ScheduleSyntaxError(Exception):
    """The prompt is not in the schedule grammar; A1111 then uses it literally."""


class _ScheduleParser:
    """Recursive-descent parser for A1111's schedule grammar::

        start:       (prompt | /[][():]/)*          # stray brackets/colons are allowed at top level only
        prompt:      (emphasized | scheduled | alternate | plain | WHITESPACE)*
        emphasized:  "(" prompt ")" | "(" prompt ":" prompt ")" | "[" prompt "]"
        scheduled:   "[" [prompt ":"] prompt ":" [WHITESPACE] NUMBER [WHITESPACE] "]"
        alternate:   "[" prompt ("|" [prompt])+ "]"

    Below the top level the grammar is deterministic (the character after a nested prompt decides the rule). At
    the top level a bracket that opens a well-formed construct is parsed as that construct, else it is literal.
    (Where both readings are possible, e.g. "[a:2]]", A1111's lark Earley parser picks one by iterating a set
    whose order depends on PYTHONHASHSEED, so A1111 itself varies between runs; this is one of its outcomes.)
    A node is a str, a list of nodes, `_Scheduled` or `_Alternate`; emphasized text is kept verbatim.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._memo: dict[int, tuple[object, int] | None] = {}

    def parse(self) -> list:
        text, pos, out = self.text, 0, []
        while pos < len(text):
            char = text[pos]
            if char in "[(":
                parsed = self._construct(pos)
                if parsed is not None:
                    out.append(parsed[0])
                    pos = parsed[1]
                    continue
            if char in "[]():":
                out.append(char)
                pos += 1
                continue
            match = _PLAIN.match(text, pos)
            if match is None:  # "|" or an unusable backslash: no rule matches
                raise _ScheduleSyntaxError(pos)
            out.append(match.group(0))
            pos = match.end()
        return out

    def _prompt(self, pos: int) -> tuple[list, int]:
        """Parse `prompt` greedily from `pos`; raise `_ScheduleSyntaxError` when a nested construct is malformed."""
        text, nodes = self.text, []
        while pos < len(text):
            char = text[pos]
            if char in "[(":
                parsed = self._construct(pos)
                if parsed is None:
                    raise _ScheduleSyntaxError(pos)
                nodes.append(parsed[0])
                pos = parsed[1]
                continue
            match = _PLAIN.match(text, pos)
            if match is None:
                break
            nodes.append(match.group(0))
            pos = match.end()
        return nodes, pos

    def _construct(self, pos: int) -> tuple[object, int] | None:
        """Parse the emphasized/scheduled/alternate construct opening at `pos`, or return None."""
        if pos not in self._memo:
            try:
                self._memo[pos] = self._construct_uncached(pos)
            except _ScheduleSyntaxError:
                self._memo[pos] = None
        return self._memo[pos]

    def _construct_uncached(self, pos: int) -> tuple[object, int] | None:
        text, opener = self.text, self.text[pos]
        first, pos = self._prompt(pos + 1)
        nxt = text[pos] if pos < len(text) else ""
        if opener == "(":
            if nxt == ")":
                return ["(", first, ")"], pos + 1
            if nxt == ":":
                second, pos = self._prompt(pos + 1)
                if text.startswith(")", pos):
                    return ["(", first, ":", second, ")"], pos + 1
            return None
        if nxt == "]":
            return ["[", first, "]"], pos + 1
        if nxt == "|":
            options = [first]
            while text.startswith("|", pos):
                option, pos = self._prompt(pos + 1)
                options.append(option)
            return (_Alternate(options), pos + 1) if text.startswith("]", pos) else None
        if nxt != ":":
            return None
        when = self._when(pos + 1)  # "[to:when]"
        if when is not None:
            return _Scheduled(None, first, when[0]), when[1]
        second, pos = self._prompt(pos + 1)  # "[from:to:when]"
        when = self._when(pos + 1) if text.startswith(":", pos) else None
        return (_Scheduled(first, second, when[0]), when[1]) if when is not None else None

    def _when(self, pos: int) -> tuple[str, int] | None:
        """Match `[WHITESPACE] NUMBER [WHITESPACE] "]"` at `pos`; return (number text, end) or None."""
        text = self.text
        if ws := _WHITESPACE.match(text, pos):
            pos = ws.end()
        number = _NUMBER.match(text, pos)
        if number is None:
            return None
        pos = number.end()
        if ws := _WHITESPACE.match(text, pos):
            pos = ws.end()
        return (number.group(0), pos + 1) if text.startswith("]", pos) else None


def _walk(node: object):
    """Yield every `_Scheduled`/`_Alternate` node in the tree, branches included."""
    if isinstance(node, list):
        for child in node:
            yield from _walk(child)
    elif isinstance(node, _Scheduled):
        yield node
        yield from _walk(node.before or [])
        yield from _walk(node.after)
    elif isinstance(node, _Alternate):
        yield node
        for option in node.options:
            yield from _walk(option)


def _render(node: object, step: int, out: list[str]) -> None:
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, list):
        for child in node:
            _render(child, step, out)
    elif isinstance(node, _Scheduled):
        _render((node.before or []) if step <= node.step else node.after, step, out)
    elif isinstance(node, _Alternate):
        _render(node.options[(step - 1) % len(node.options)], step, out)


def _when_to_step(when: str, steps: int, int_offset: int, flt_offset: float, use_old_scheduling: bool) -> int:
    value = float(when)
    if use_old_scheduling:
        value = value * steps if value < 1 else value
    elif "." in when:
        value = (value - flt_offset) * steps
    else:
        value = value - int_offset
    if math.isinf(value):  # A1111 would crash on int(inf); clamp instead
        return steps if value > 0 else 0
    return min(steps, int(value))


def get_learned_conditioning_prompt_schedules(
    prompts: list[str], base_steps: int, hires_steps: int | None = None, use_old_scheduling: bool = False
) -> list[list[list]]:
    """Expand prompt editing and alternation into per-step prompt texts.

    Args:
        prompts (`list[str]`): prompts (AND already split off, extra-network tags already removed).
        base_steps (`int`): sampling steps of the first pass.
        hires_steps (`int`, *optional*): steps of the hires pass; when given (and not `use_old_scheduling`) the
            schedule is for the hires pass: an integer `when` counts base+hires steps, a float `1.x` is a fraction of
            the hires pass.
        use_old_scheduling (`bool`): A1111's "Old prompt editing timelines": `when < 1` is a fraction, else a step.

    Returns:
        Per prompt a list of `[end_at_step, text]` pairs sorted by step; the text applies while
        `step <= end_at_step` (steps count from 1). A prompt that does not parse is used literally.
    """
    if hires_steps is None or use_old_scheduling:
        int_offset, flt_offset, steps = 0, 0.0, base_steps
    else:
        int_offset, flt_offset, steps = base_steps, 1.0, hires_steps

    def get_schedule(prompt: str) -> list[list]:
        try:
            tree = _ScheduleParser(prompt).parse()
        except (_ScheduleSyntaxError, RecursionError):  # RecursionError: absurdly deep bracket nesting
            return [[steps, prompt]]
        boundaries = {steps}
        for node in _walk(tree):
            if isinstance(node, _Alternate):
                boundaries.update(range(1, steps + 1))
            else:
                node.step = _when_to_step(node.when, steps, int_offset, flt_offset, use_old_scheduling)
                if node.step >= 1:
                    boundaries.add(node.step)
        schedule = []
        for step in sorted(boundaries):
            out: list[str] = []
            _render(tree, step, out)
            schedule.append([step, "".join(out)])
        return schedule

    cache = {prompt: get_schedule(prompt) for prompt in set(prompts)}
    return [cache[prompt] for prompt in prompts]


# Composable diffusion: "a AND b:0.5"
_RE_AND = re.compile(r"\bAND\b")
_RE_WEIGHT = re.compile(r"^((?:\s|.)*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")


def split_multicond(prompt: str) -> list[tuple[str, float]]:
    """Split a positive prompt on `AND` into `(sub_prompt, weight)` pairs (a trailing `:w` is the weight).

    As in A1111 the sub-prompt keeps its leading whitespace but loses trailing whitespace, and a trailing
    `:number` is always taken as the weight (so `"16:9"` gives `("16", 9.0)`).
    """
    result = []
    for sub_prompt in _RE_AND.split(prompt):
        match = _RE_WEIGHT.search(sub_prompt)
        if match is None:  # only when the text holds a character neither \s nor . matches
            result.append((sub_prompt, 1.0))
            continue
        text, weight = match.groups()
        result.append((text, float(weight) if weight is not None else 1.0))
    return result


def get_multicond_prompt_list(
    prompts: list[str],
) -> tuple[list[list[tuple[int, float]]], list[str], dict[str, int]]:
    """A1111's `get_multicond_prompt_list`: AND-split every prompt and de-duplicate the sub-prompts.

    Returns:
        `(indexes, flat_prompts, prompt_indexes)`: per prompt a list of `(index into flat_prompts, weight)`;
        the unique sub-prompt texts; and text -> index.
    """
    indexes: list[list[tuple[int, float]]] = []
    flat_prompts: list[str] = []
    prompt_indexes: dict[str, int] = {}
    for prompt in prompts:
        entry = []
        for text, weight in split_multicond(prompt):
            if text not in prompt_indexes:
                prompt_indexes[text] = len(flat_prompts)
                flat_prompts.append(text)
            entry.append((prompt_indexes[text], weight))
        indexes.append(entry)
    return indexes, flat_prompts, prompt_indexes


# Emphasis: "(a)", "[a]", "(a:1.5)", "\(", BREAK
_RE_ATTENTION = re.compile(
    r"""
    \\[()\[\]\\]?        # escape: \( \) \[ \] \\ give the character; a lone backslash gives nothing
    | [(\[]              # opening bracket
    | :\s*([+-]?[.\d]+)\s*\)   # ":weight)" closes "(" with an explicit weight
    | [)\]]              # closing bracket
    | [^\\()\[\]:]+      # text
    | :                  # a colon that is not a weight
    """,
    re.X,
)
_RE_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
_ROUND_MULTIPLIER = 1.1
_SQUARE_MULTIPLIER = 1 / 1.1


def _is_float(text: str) -> bool:
    """`[.\\d]+` also matches "." or "1.2.3"; A1111 crashes on those, here the token stays literal text."""
    return text.count(".") <= 1 and any(c.isdigit() for c in text)


def parse_prompt_attention(text: str) -> list[list]:
    """Split a prompt into `[text, weight]` pieces following A1111's emphasis rules.

    `(x)` multiplies by 1.1, `[x]` by 1/1.1, `(x:w)` by `w` (nesting multiplies); unclosed brackets apply to the
    rest of the prompt; a stray closing bracket is literal; `\\(`, `\\)`, `\\[`, `\\]`, `\\\\` are literal characters.
    `BREAK` becomes a `["BREAK", -1]` marker. Adjacent pieces of equal weight are merged.

    One deliberate difference from A1111 1.10: a BREAK inside brackets stays a marker (A1111 multiplies its -1 and
    then encodes the literal word "BREAK" with a negative weight), as A1111's later fix does.

    Examples:
        >>> parse_prompt_attention('an (important) word')
        [['an ', 1.0], ['important', 1.1], [' word', 1.0]]
    """
    pieces: list[list] = []
    breaks: set[int] = set()  # ids of BREAK markers: never weighted, never merged
    round_brackets: list[int] = []
    square_brackets: list[int] = []

    def multiply_range(start: int, multiplier: float) -> None:
        for piece in pieces[start:]:
            if id(piece) not in breaks:
                piece[1] *= multiplier

    for match in _RE_ATTENTION.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            pieces.append([token[1:], 1.0])
        elif token == "(":
            round_brackets.append(len(pieces))
        elif token == "[":
            square_brackets.append(len(pieces))
        elif weight is not None and round_brackets and _is_float(weight):
            multiply_range(round_brackets.pop(), float(weight))
        elif token == ")" and round_brackets:
            multiply_range(round_brackets.pop(), _ROUND_MULTIPLIER)
        elif token == "]" and square_brackets:
            multiply_range(square_brackets.pop(), _SQUARE_MULTIPLIER)
        else:
            for i, part in enumerate(_RE_BREAK.split(token)):
                if i > 0:
                    marker = ["BREAK", -1]
                    breaks.add(id(marker))
                    pieces.append(marker)
                pieces.append([part, 1.0])

    for start in round_brackets:
        multiply_range(start, _ROUND_MULTIPLIER)
    for start in square_brackets:
        multiply_range(start, _SQUARE_MULTIPLIER)
    if not pieces:
        return [["", 1.0]]

    i = 0
    while i + 1 < len(pieces):
        left, right = pieces[i], pieces[i + 1]
        if left[1] == right[1] and id(left) not in breaks and id(right) not in breaks:
            left[0] += right[0]
            pieces.pop(i + 1)
        else:
            i += 1
    return pieces


# A1111 module-level names that extensions import
re_AND, re_weight, re_attention, re_break = _RE_AND, _RE_WEIGHT, _RE_ATTENTION, _RE_BREAK
