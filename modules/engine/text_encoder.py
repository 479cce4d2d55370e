"""TEMPORARY stand-in written by the lead so the server runs end to end; the prompt-encoder engineer
replaces this whole file with the real weighted, chunked encoder (same class and method names)."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class EncodedPrompt:
    hidden: torch.Tensor
    pooled: torch.Tensor | None = None


class PromptEncoder:
    def __init__(self, tokenizer, text_encoder, tokenizer_2=None, text_encoder_2=None, **_options):
        self.tokenizer, self.text_encoder = tokenizer, text_encoder
        self.tokenizer_2, self.text_encoder_2 = tokenizer_2, text_encoder_2

    @torch.no_grad()
    def encode(self, text: str) -> EncodedPrompt:
        ids = self.tokenizer(text, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        device = next(self.text_encoder.parameters()).device
        if self.text_encoder_2 is None:
            return EncodedPrompt(self.text_encoder(ids.to(device))[0].float())
        out1 = self.text_encoder(ids.to(device), output_hidden_states=True)
        ids2 = self.tokenizer_2(text, padding="max_length", max_length=77, truncation=True,
                                return_tensors="pt").input_ids
        out2 = self.text_encoder_2(ids2.to(device), output_hidden_states=True)
        hidden = torch.cat([out1.hidden_states[-2], out2.hidden_states[-2]], dim=-1).float()
        return EncodedPrompt(hidden, out2.text_embeds.float())
