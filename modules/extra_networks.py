"""Extra-network tags in prompts (`<lora:name:0.8>`), as A1111's `modules/extra_networks.py` parses them."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_RE_EXTRA_NETWORK = re.compile(r"<(\w+):([^>]+)>")
_EXTRA_NETWORK_ALIASES = {"lyco": "lora"}


@dataclass
class ExtraNetworkParams:
    """One `<name:arg1:arg2:key=value>` tag: `items` are all args in order, `named` the `key=value` ones."""

    name: str
    items: list[str] = field(default_factory=list)
    named: dict[str, str] = field(default_factory=dict)

    @property
    def positional(self) -> list[str]:
        """The items that are not `key=value` (A1111 `ExtraNetworkParams.positional`)."""
        return [item for item in self.items if len(item.split("=", 2)) != 2]


def parse_extra_networks(prompt: str) -> tuple[str, list[ExtraNetworkParams]]:
    """Remove `<name:args>` tags from a prompt and return them (A1111 `extra_networks.parse_prompt`).

    Args split on ":"; an item with exactly one "=" is also stored in `named`. `lyco` is normalised to `lora`.

    Returns:
        `(prompt without the tags, tags in order of appearance)`.
    """
    found: list[ExtraNetworkParams] = []

    def collect(match: re.Match) -> str:
        items = match.group(2).split(":")
        named = {}
        for item in items:
            parts = item.split("=", 2)
            if len(parts) == 2:
                named[parts[0]] = parts[1]
        name = _EXTRA_NETWORK_ALIASES.get(match.group(1), match.group(1))
        found.append(ExtraNetworkParams(name=name, items=items, named=named))
        return ""

    return _RE_EXTRA_NETWORK.sub(collect, prompt), found
