"""Safety: the prompt guardrail (blocklist + `on_prompt_check` extensions, before anything is queued) and the NSFW
censor of output images (--enable-nsfw-censor, in the worker before results are stored)."""
