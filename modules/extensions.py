"""Extension discovery and loading in A1111's layout.

`<root>/extensions_builtin/<name>/` and `<root>/extensions/<name>/` each may hold:
`preload.py` (`preload(parser)` adds flags before they are parsed), `scripts/*.py` (imported at startup; every
`modules.scripts.Script` subclass defined there is instantiated per tab; module-level `script_callbacks.on_*`
calls register callbacks), `javascript/*.js` and `style.css` (served with the WebUI).

Imports: each script file becomes the module `easel_extensions.<ext>.scripts.<stem>` (registered in
`sys.modules`; `easel_extensions.<ext>` is a package over the extension directory, so relative imports such as
`from .helper import x` or `from ..lib import y` work). While a file is imported the extension directory is first
on `sys.path`, as in A1111, so `from scripts.helper import x` and `import lib_myext` work too. A file that raises
on import is logged with its path and skipped; the server still starts.
"""
from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import inspect
import logging
import re
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from modules import scripts as scripts_module
from modules.scripts import Script, ScriptBuiltinUI, ScriptClassData
from modules.scripts_runner import ScriptRegistry

logger = logging.getLogger(__name__)

PACKAGE_ROOT = "easel_extensions"
BUILTIN_DIR = "extensions_builtin"
USER_DIR = "extensions"


@dataclass
class Extension:
    """One extension directory. `enabled` is False when its name is in the `disabled_extensions` option."""

    name: str
    path: Path
    is_builtin: bool
    enabled: bool = True

    @property
    def package(self) -> str:
        """The synthetic package name its modules are imported under."""
        kind = "builtin" if self.is_builtin else "ext"
        ident = re.sub(r"\W", "_", self.name)
        return f"{PACKAGE_ROOT}.{kind}_{ident}"


def list_extensions(root: Path, disabled: list[str] | None = None) -> list[Extension]:
    """Built-in extensions then third-party ones, each sorted by name (directories only, no dot-dirs)."""
    disabled_set = set(disabled or [])
    found: list[Extension] = []
    for subdir, is_builtin in ((BUILTIN_DIR, True), (USER_DIR, False)):
        base = Path(root) / subdir
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir(), key=lambda p: p.name):
            if path.is_dir() and not path.name.startswith((".", "__")):
                found.append(Extension(path.name, path.resolve(), is_builtin, path.name not in disabled_set))
    return found


def _ensure_package(name: str, path: Path | None) -> types.ModuleType:
    """A synthetic package module `name` whose submodules are searched in `path` (updated on every call)."""
    module = sys.modules.get(name)
    locations = [str(path)] if path is not None else []
    if module is None or not hasattr(module, "__path__"):
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = locations
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent and parent in sys.modules:
            setattr(sys.modules[parent], child, module)
    module.__path__ = locations
    return module


def _purge_package(name: str) -> None:
    """Forget previously imported submodules of `name` (a reload or another extension at the same name)."""
    for key in [k for k in sys.modules if k.startswith(name + ".")]:
        del sys.modules[key]


@contextmanager
def _on_sys_path(directory: Path) -> Iterator[None]:
    entry = str(directory)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)  # the first occurrence: ours; paths the extension added stay


def _import_file(module_name: str, path: Path) -> types.ModuleType:
    """Import `path` as `module_name` (registered in sys.modules; removed again if it raises)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _module_ident(stem: str) -> str:
    ident = re.sub(r"\W", "_", stem)
    return f"_{ident}" if ident[:1].isdigit() else ident


def run_preloads(extensions: list[Extension], parser: argparse.ArgumentParser) -> list[Extension]:
    """Import each enabled extension's `preload.py` and call `preload(parser)`, before flags are parsed.
    An extension whose preload fails is logged and its preload skipped (A1111 keeps loading its scripts).
    Returns the extensions whose preload failed."""
    failed = []
    for ext in extensions:
        path = ext.path / "preload.py"
        if not ext.enabled or not path.is_file():
            continue
        try:
            _ensure_package(PACKAGE_ROOT, None)
            _ensure_package(ext.package, ext.path)
            with _on_sys_path(ext.path):
                module = _import_file(f"{ext.package}.preload", path)
                preload = getattr(module, "preload", None)
                if callable(preload):
                    preload(parser)
        except (Exception, SystemExit):
            logger.exception("Error running preload() of extension %s (%s); skipped", ext.name, path)
            failed.append(ext)
    return failed


def javascript_files(extensions: list[Extension], root: Path) -> list[Path]:
    """Root `javascript/*.js` in name order, then each enabled extension's `javascript/*.js` in name order."""
    dirs = [Path(root)] + [ext.path for ext in extensions if ext.enabled]
    files: list[Path] = []
    for base in dirs:
        folder = base / "javascript"
        if folder.is_dir():
            files += sorted((f for f in folder.iterdir() if f.is_file() and f.suffix == ".js"), key=lambda f: f.name)
    return files


def stylesheets(extensions: list[Extension], root: Path) -> list[Path]:
    """Root `style.css`, then each enabled extension's `style.css`, where they exist."""
    dirs = [Path(root)] + [ext.path for ext in extensions if ext.enabled]
    return [base / "style.css" for base in dirs if (base / "style.css").is_file()]


def _script_classes(module: types.ModuleType) -> list[type[Script]]:
    """Script subclasses defined in `module` (not ones it imported), in definition order."""
    found = []
    for value in vars(module).values():
        if (inspect.isclass(value) and issubclass(value, Script) and value not in (Script, ScriptBuiltinUI)
                and value.__module__ == module.__name__):
            found.append(value)
    return found


def _load_dir(package: str, basedir: Path, scripts_data: list[ScriptClassData],
              errors: list[tuple[str, str]]) -> None:
    folder = basedir / "scripts"
    if not folder.is_dir():
        return
    _ensure_package(PACKAGE_ROOT, None)
    _purge_package(package)
    _ensure_package(package, basedir)
    _ensure_package(f"{package}.scripts", folder)
    for path in sorted(folder.glob("*.py"), key=lambda f: f.name):
        scripts_module.current_basedir = str(basedir)
        try:
            with _on_sys_path(basedir):
                module = _import_file(f"{package}.scripts.{_module_ident(path.stem)}", path)
        except (Exception, SystemExit) as e:
            logger.exception("Error loading script %s; skipped", path)
            errors.append((str(path), f"{type(e).__name__}: {e}"))
            continue
        finally:
            scripts_module.current_basedir = str(Path(scripts_module.__file__).resolve().parent.parent)
        for cls in _script_classes(module):
            scripts_data.append(ScriptClassData(cls, str(path), str(basedir), module))


def load_scripts(extensions: list[Extension], root: Path) -> ScriptRegistry:
    """Import root `scripts/*.py` and each enabled extension's `scripts/*.py`, and build a runner per tab.
    Also binds A1111's globals `modules.scripts.scripts_data`, `scripts_txt2img` and `scripts_img2img`."""
    scripts_data: list[ScriptClassData] = []
    errors: list[tuple[str, str]] = []
    _load_dir(f"{PACKAGE_ROOT}._root", Path(root).resolve(), scripts_data, errors)
    for ext in extensions:
        if ext.enabled:
            _load_dir(ext.package, ext.path, scripts_data, errors)
    registry = ScriptRegistry(scripts_data, errors)
    scripts_module.scripts_data = scripts_data
    scripts_module.scripts_txt2img = registry.txt2img
    scripts_module.scripts_img2img = registry.img2img
    return registry


def unload_scripts(registry: ScriptRegistry) -> None:
    """Drop the callbacks the loaded script files registered (before a reload)."""
    from modules import script_callbacks

    for path in {data.path for data in registry.scripts_data} | {path for path, _ in registry.errors}:
        script_callbacks.remove_callbacks_for_script(path)
