"""The extension's public-API wiring: preload flags, the script's callbacks, config from `modules.shared`, the tab."""
from __future__ import annotations

import argparse
import gc
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from modules import script_callbacks, shared
from modules.api.errors import install_error_handlers
from tests.filebrowser.conftest import EXTENSION_DIR, serve


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_preload_flags() -> None:
    parser = argparse.ArgumentParser()
    load(EXTENSION_DIR / "preload.py", "filebrowser_preload").preload(parser)
    default = parser.parse_args([])
    assert not default.no_filebrowser and not default.filebrowser_readonly
    flags = parser.parse_args(["--filebrowser", "--filebrowser-readonly", "--no-filebrowser"])
    assert flags.filebrowser and flags.filebrowser_readonly and flags.no_filebrowser


@pytest.fixture()
def script(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, list[str]]]:
    """scripts/filebrowser.py loaded as the WebUI would, with `shared` bound to a stand-in of the services."""
    refreshed: list[str] = []
    services = SimpleNamespace(
        vaes=SimpleNamespace(refresh=lambda: refreshed.append("vae")),
        paths=SimpleNamespace(hash_cache_file=data_dir / "cache" / "hashes.json", data_dir=data_dir,
                              models_dir=data_dir / "models"),
        cmd_opts=argparse.Namespace(no_filebrowser=False, filebrowser_readonly=False))
    shared.bind(services)
    monkeypatch.setattr(shared, "refresh_checkpoints", lambda: refreshed.append("ckpt"))
    path = EXTENSION_DIR / "scripts" / "filebrowser.py"
    module = load(path, "filebrowser_script")
    try:
        yield module, refreshed
    finally:
        shared.unbind(services)
        script_callbacks.remove_callbacks_for_script(str(path))
        sys.modules.pop("filebrowser_script", None)


def test_script_registers_routes_on_app_started(script: tuple[ModuleType, list[str]], data_dir: Path) -> None:
    _module, refreshed = script
    app = FastAPI()
    install_error_handlers(app)
    script_callbacks.app_started_callback(None, app)
    with serve(app) as url, httpx.Client(base_url=url) as http:
        assert [e["name"] for e in http.get("/filebrowser/api/list").json()["entries"]][:2] == ["empty", "models"]
        moved = http.post("/filebrowser/api/move", json={"src": "notes.txt", "dst": "models/VAE.txt"})
        assert moved.status_code == 200
    assert refreshed == ["ckpt", "vae"]


def test_disabled_and_readonly(script: tuple[ModuleType, list[str]], data_dir: Path) -> None:
    module, _refreshed = script
    shared.services.cmd_opts = argparse.Namespace(no_filebrowser=True, filebrowser_readonly=False)
    app = FastAPI()
    module.on_app_started(None, app)
    assert not [r for r in app.routes if getattr(r, "path", "").startswith("/filebrowser")]
    assert module.on_ui_tabs() == []
    shared.services.cmd_opts = argparse.Namespace(no_filebrowser=False, filebrowser_readonly=True)
    assert module.config_from_shared().readonly


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # Gradio leaves event loops open
def test_ui_tab_hosts_the_browser(script: tuple[ModuleType, list[str]]) -> None:
    """The tab is a Gradio Blocks whose HTML carries the host element the JavaScript mounts into."""
    module, _refreshed = script
    import gradio as gr

    [(blocks, title, elem_id)] = module.on_ui_tabs()
    assert isinstance(blocks, gr.Blocks) and title == "FileBrowser" and elem_id == "filebrowser"
    html = [b for b in blocks.blocks.values() if isinstance(b, gr.HTML)][0]
    assert 'id="filebrowser-root"' in html.value and 'data-readonly="false"' in html.value
    del blocks, html
    gc.collect()  # let Gradio's leftovers be reported here, under this test's filter
    script_text = (EXTENSION_DIR / "javascript" / "filebrowser.js").read_text()
    assert "#filebrowser-root" in script_text and "innerHTML" not in script_text.replace("never innerHTML", "")
