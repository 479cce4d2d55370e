"""The admin-editable prompt blocklist: `<data dir>/prompt_blocklist.json`, edited by hand (re-read when the file
changes) or through /internal/safety/blocklist.

    {"rules": [{"name": "gore", "words": ["gore", "dismembered"]},
               {"name": "no-celebrities", "regex": "\\\\b(taylor|elon)\\\\s+\\\\w+"}]}

A `words` rule matches any of its words or phrases as whole words; a `regex` rule is a Python regular expression
searched anywhere. Both ignore case.
"""
from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.errors import EaselError, InvalidRequestError

FILE_NAME = "prompt_blocklist.json"
_NAME = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
MAX_PATTERN = 2000


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern
    words: tuple[str, ...] = ()
    regex: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "regex": self.regex} if self.regex is not None else \
            {"name": self.name, "words": list(self.words)}


def parse_rules(data: Any, field: str = "rules") -> list[Rule]:
    """Validated rules from their JSON; InvalidRequestError naming `rules[i].<field>` otherwise."""
    if not isinstance(data, list):
        raise InvalidRequestError(f"{field}: expected a list of rules", field=field)
    rules, names = [], set()
    for i, item in enumerate(data):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise InvalidRequestError(f"{where}: expected an object with name and words or regex", field=where)
        name = item.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidRequestError(f"{where}.name: 1-64 characters of A-Z a-z 0-9 . _ -, got {name!r}",
                                      field=f"{where}.name")
        if name in names:
            raise InvalidRequestError(f"{where}.name: rule {name!r} is defined twice", field=f"{where}.name")
        names.add(name)
        unknown = set(item) - {"name", "words", "regex"}
        if unknown or ("words" in item) == ("regex" in item):
            raise InvalidRequestError(f"{where}: a rule has a name and exactly one of words or regex",
                                      field=where)
        rules.append(_word_rule(name, item["words"], where) if "words" in item else
                     _regex_rule(name, item["regex"], where))
    return rules


def _word_rule(name: str, words: Any, where: str) -> Rule:
    if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
        raise InvalidRequestError(f"{where}.words: a non-empty list of words or phrases", field=f"{where}.words")
    cleaned = tuple(w.strip() for w in words)
    alternatives = "|".join(r"\s+".join(map(re.escape, w.split())) for w in cleaned)
    return Rule(name, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE), words=cleaned)


def _regex_rule(name: str, regex: Any, where: str) -> Rule:
    if not isinstance(regex, str) or not regex or len(regex) > MAX_PATTERN:
        raise InvalidRequestError(f"{where}.regex: a regular expression of 1-{MAX_PATTERN} characters",
                                  field=f"{where}.regex")
    try:
        pattern = re.compile(regex, re.IGNORECASE)
    except re.error as e:
        raise InvalidRequestError(f"{where}.regex: not a valid regular expression ({e})",
                                  field=f"{where}.regex") from e
    return Rule(name, pattern, regex=regex)


class Blocklist:
    """The rules of one file, re-read when its modification time or size changes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._rules: list[Rule] = []

    def rules(self) -> list[Rule]:
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._rules = None, []
                return []
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                self._rules = self._read()
                self._stamp = stamp
            return list(self._rules)

    def _read(self) -> list[Rule]:
        """A file that does not parse fails every check (500 naming the file) rather than letting prompts through."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise EaselError(f"the prompt blocklist {self.path.name} cannot be read: {e}") from e
        try:
            return parse_rules(data.get("rules") if isinstance(data, dict) else data)
        except InvalidRequestError as e:
            raise EaselError(f"the prompt blocklist {self.path.name} is invalid: {e.message}") from e

    def replace(self, rules: list[Rule]) -> None:
        """Write the rules (atomically: a half-written file is never read)."""
        text = json.dumps({"rules": [r.as_json() for r in rules]}, indent=2, ensure_ascii=False)
        tmp = self.path.with_suffix(".json.tmp")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
            self._stamp = None

    def match(self, text: str) -> Rule | None:
        for rule in self.rules():
            if rule.pattern.search(text):
                return rule
        return None
