"""Which expanders exist: the built-in one plus one per model folder under `models/BeautifulPrompt/`."""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from bprompt.expander_base import PromptExpander
from bprompt.expander_builtin import BuiltinExpander
from bprompt.expander_common import BUILTIN_NAME, ExpandParams, ExpandResult, check_prompt
from modules.errors import InvalidRequestError

PathSource = Callable[[], Path | None]
NameSource = Callable[[], str | None]


class ExpanderRegistry:
    """Lists and hands out expanders; keeps at most one language model in memory (the last one used).

    Args:
        models_dir (`Path` or callable returning one, *optional*): the BeautifulPrompt models folder,
            read at every call so a folder added later shows up after a refresh.
        default_model (callable, *optional*): returns the preferred model name (e.g. from an option);
            ignored when that model is not available.
    """

    def __init__(self, models_dir: Path | PathSource | None = None,
                 default_model: NameSource | None = None) -> None:
        self._models_dir: PathSource = models_dir if callable(models_dir) else (lambda: models_dir)
        self._default_model = default_model
        self._builtin = BuiltinExpander()
        self._loaded: PromptExpander | None = None
        self._lock = threading.Lock()

    @property
    def models_dir(self) -> Path | None:
        folder = self._models_dir()
        return Path(folder) if folder is not None else None

    def model_dirs(self) -> dict[str, Path]:
        """{name: folder} of every direct sub-folder holding a `config.json`, by name."""
        folder = self.models_dir
        if folder is None or not folder.is_dir():
            return {}
        return {p.name: p for p in sorted(folder.iterdir(), key=lambda p: p.name.lower())
                if p.is_dir() and (p / "config.json").is_file()}

    def names(self) -> list[str]:
        """The built-in expander first, then the local models."""
        return [BUILTIN_NAME, *self.model_dirs()]

    def default_name(self) -> str:
        preferred = self._default_model() if self._default_model is not None else None
        return preferred if preferred and preferred in self.names() else BUILTIN_NAME

    def get(self, name: str | None = None) -> PromptExpander:
        """The expander called `name` (None or "" means the default); unknown names raise naming `model`."""
        name = name or self.default_name()
        if name == BUILTIN_NAME:
            return self._builtin
        folder = self.model_dirs().get(name)
        if folder is None:
            raise InvalidRequestError(f"model: unknown BeautifulPrompt model {name!r}; available: {self.names()}",
                                      field="model")
        from bprompt.expander_transformers import TransformersExpander

        with self._lock:
            current = self._loaded
            if isinstance(current, TransformersExpander) and current.model_dir == folder:
                return current
            if current is not None:
                current.unload()
            self._loaded = TransformersExpander(folder, name=name)
            return self._loaded

    def unload(self) -> None:
        """Drop the cached language model, if any."""
        with self._lock:
            if self._loaded is not None:
                self._loaded.unload()
                self._loaded = None

    def expand(self, prompt: str, params: ExpandParams | None = None, model: str | None = None) -> ExpandResult:
        """Validate, resolve the seed, and expand `prompt` with `model` (blocking; call it off the event loop)."""
        text = check_prompt(prompt)
        params = (params or ExpandParams()).validated().with_resolved_seed()
        expander = self.get(model)
        return ExpandResult(prompts=expander.expand(text, params), model=expander.name, seed=params.seed)
