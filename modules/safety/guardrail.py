"""The prompt guardrail: run in the request pipeline (torch-free) before anything is stored or queued.

The blocklist is checked first, then every `script_callbacks.on_prompt_check` callback; the first that objects
makes the request fail with 422 naming the rule (or the extension's reason). Blocked prompts are counted through
`on_blocked` listeners (metrics), never logged in full.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from modules import script_callbacks
from modules.errors import InvalidRequestError
from modules.safety.blocklist import Blocklist
from modules.script_callbacks import PromptCheckParams

logger = logging.getLogger(__name__)
HOOK_RULE = "on_prompt_check"  # the rule label of blocks by extensions


class PromptBlockedError(InvalidRequestError):
    """A prompt matched a guardrail rule (422, field "prompt")."""

    def __init__(self, rule: str, message: str):
        super().__init__(message, field="prompt")
        self.rule = rule


class PromptGuard:
    def __init__(self, blocklist: Blocklist):
        self.blocklist = blocklist
        self.on_blocked: list[Callable[[str], None]] = []  # listeners(rule name)

    def check(self, p: Any) -> None:
        """Raise PromptBlockedError when the request's prompts (styles applied, hires prompt included) are blocked."""
        params = PromptCheckParams(prompt=p.prompt, negative_prompt=p.negative_prompt,
                                   extra_prompts=[p.hr_prompt, *(prompt for prompt, _neg in p.style_prompts)],
                                   user=p.user, mode=p.mode, p=p)
        text = "\n".join(t for t in [params.prompt, *params.extra_prompts] if t)
        rule = self.blocklist.match(text)
        if rule is not None:
            self._blocked(rule.name, p, f"prompt: blocked by the prompt guardrail rule {rule.name!r}")
        reason = script_callbacks.prompt_check_callback(params)
        if reason:
            self._blocked(HOOK_RULE, p, f"prompt: blocked by an extension's prompt check: {reason}")

    def _blocked(self, rule: str, p: Any, message: str) -> None:
        logger.info("prompt guardrail: rule %s blocked a %s request of user %s", rule, p.mode, p.user or "-")
        for listener in list(self.on_blocked):
            listener(rule)
        raise PromptBlockedError(rule, message)
