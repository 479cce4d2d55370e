"""spandrel without torchvision.

spandrel 0.4.x imports `torchvision.transforms.functional` at module level for two architectures (LaMa and
RestoreFormer), and torchvision cannot be installed here (only CUDA builds are reachable, and they break diffusers'
imports). `architecture_registry()` therefore imports spandrel with a throw-away `torchvision` stub in sys.modules
and takes the stub out again at once, so `importlib.util.find_spec("torchvision")` stays None and diffusers and
transformers keep working. The two architectures that would call into the stub are left out of the registry
Easel uses. When the real torchvision is installed, nothing is stubbed and nothing is left out.

`spandrel_extra_arches` (CodeFormer and other architectures under restrictive licences, e.g. CodeFormer's
non-commercial S-Lab License 1.0) is added when the operator has installed it; Easel does not install it.
"""
from __future__ import annotations

import enum
import importlib
import importlib.util
import logging
import sys
import threading
import types
from typing import Any

logger = logging.getLogger(__name__)

STUBBED_ARCHITECTURES = frozenset({"LaMa", "RestoreFormer"})  # they call torchvision functions at run time
_STUB_NAMES = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
_lock = threading.Lock()
_registry: Any = None


class _InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _unavailable(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("torchvision is not installed; this spandrel architecture is not available in Easel")


def _stub_modules() -> dict[str, types.ModuleType]:
    root = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = _InterpolationMode  # type: ignore[attr-defined]
    functional.rotate = _unavailable  # type: ignore[attr-defined]
    functional.normalize = _unavailable  # type: ignore[attr-defined]
    root.transforms = transforms  # type: ignore[attr-defined]
    transforms.functional = functional  # type: ignore[attr-defined]
    for module in (root, transforms):
        module.__path__ = []  # a package, so the submodule imports resolve to the stubs
    return {"torchvision": root, "torchvision.transforms": transforms, "torchvision.transforms.functional": functional}


def _import_with_stub(names: tuple[str, ...]) -> list[types.ModuleType | None]:
    """Import `names` (None for one that is not installed) with the stub in place only meanwhile."""
    stubs = _stub_modules()
    clashing = [name for name in _STUB_NAMES if name in sys.modules]
    if clashing:  # something else put a torchvision module there: leave it alone
        raise RuntimeError(f"cannot import spandrel: {', '.join(clashing)} already in sys.modules")
    sys.modules.update(stubs)
    try:
        return [importlib.import_module(name) if importlib.util.find_spec(name) else None for name in names]
    finally:
        for name, module in stubs.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def architecture_registry() -> Any:
    """spandrel's `ArchRegistry` for Easel: the main registry (less the stubbed architectures when torchvision is
    missing) plus spandrel_extra_arches when installed. Imported once, thread-safe. Raises ImportError when spandrel
    itself is not installed."""
    global _registry
    with _lock:
        if _registry is not None:
            return _registry
        if importlib.util.find_spec("spandrel") is None:
            raise ImportError("spandrel is not installed (pip install --no-deps spandrel)")
        stubbed = importlib.util.find_spec("torchvision") is None
        if stubbed:
            spandrel, extra = _import_with_stub(("spandrel", "spandrel_extra_arches"))
        else:
            spandrel = importlib.import_module("spandrel")
            extra = importlib.import_module("spandrel_extra_arches") \
                if importlib.util.find_spec("spandrel_extra_arches") else None
        registry = spandrel.ArchRegistry()
        skip = STUBBED_ARCHITECTURES if stubbed else frozenset()
        registry.add(*(a for a in spandrel.MAIN_REGISTRY.architectures() if str(a.architecture.id) not in skip))
        if extra is not None:
            registry.add(*extra.EXTRA_REGISTRY.architectures(), ignore_duplicates=True)
        logger.info("spandrel %s: %d architectures%s", spandrel.__version__, len(registry),
                    " (with spandrel_extra_arches)" if extra is not None else "")
        _registry = registry
        return registry


def has_extra_arches() -> bool:
    """Whether spandrel_extra_arches (CodeFormer, ...) is installed."""
    return importlib.util.find_spec("spandrel_extra_arches") is not None
