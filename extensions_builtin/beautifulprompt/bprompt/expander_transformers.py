"""A prompt expander over a local causal language model in Hugging Face format (e.g. BeautifulPrompt BLOOM).

The model folder holds `config.json`, the weights and the tokenizer files. It is loaded offline
(`local_files_only=True`) on first use and kept until `unload()`. torch and transformers are imported
only then, so listing models or using the built-in expander never pays for them.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from bprompt.expander_base import PromptExpander
from bprompt.expander_common import ExpandParams, clean_generated
from modules.errors import ModelLoadError

logger = logging.getLogger(__name__)

# The instruction template of the published BeautifulPrompt models (alibaba-pai/pai-bloom-1b1-text2prompt-sd[-v2]).
PROMPT_TEMPLATE = ("Instruction: Give a simple description of the image to generate a drawing prompt.\n"
                   "Input: {prompt}\nOutput:")

# generate() samples with torch's global generator; one generation at a time keeps seeds reproducible.
_GENERATE_LOCK = threading.Lock()


class TransformersExpander(PromptExpander):
    """Samples `count` continuations of `PROMPT_TEMPLATE` from a local causal LM, on CPU."""

    def __init__(self, model_dir: Path, name: str | None = None, template: str = PROMPT_TEMPLATE) -> None:
        self.model_dir = Path(model_dir)
        self.name = name or self.model_dir.name
        self.template = template
        self._tokenizer: Any = None
        self._model: Any = None
        self._load_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> tuple[Any, Any]:
        """Load (once) and return `(tokenizer, model)`; raises `ModelLoadError` for an unusable folder."""
        with self._load_lock:
            if self._model is None:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                logger.info("BeautifulPrompt: loading %s from %s", self.name, self.model_dir)
                try:
                    tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
                    model = AutoModelForCausalLM.from_pretrained(self.model_dir, local_files_only=True)
                except (OSError, ValueError, KeyError) as e:
                    raise ModelLoadError(f"model: cannot load BeautifulPrompt model {self.name!r}: {e}",
                                         field="model") from e
                model.eval()
                self._tokenizer, self._model = tokenizer, model
            return self._tokenizer, self._model

    def unload(self) -> None:
        with self._load_lock:
            self._tokenizer = self._model = None

    def expand(self, prompt: str, params: ExpandParams) -> list[str]:
        """`params.count` cleaned one-line prompts; an empty continuation falls back to `prompt` itself."""
        import torch

        tokenizer, model = self.load()
        inputs = tokenizer(self.template.format(prompt=prompt), return_tensors="pt")
        inputs.pop("token_type_ids", None)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        with _GENERATE_LOCK, torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(params.seed)
            output = model.generate(
                **inputs,
                do_sample=True,
                temperature=params.temperature,
                top_k=params.top_k,
                top_p=params.top_p,
                repetition_penalty=params.repetition_penalty,
                max_new_tokens=params.max_length,
                num_return_sequences=params.count,
                pad_token_id=pad_id,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [clean_generated(text) or prompt for text in texts]
