"""Fixtures: a data dir with a few files, and the FileBrowser routes on a real uvicorn server per test."""
from __future__ import annotations

import base64
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image, PngImagePlugin

EXTENSION_DIR = Path(__file__).resolve().parents[2] / "extensions_builtin" / "filebrowser"
if str(EXTENSION_DIR) not in sys.path:
    sys.path.append(str(EXTENSION_DIR))

from filebrowser_lib import FileBrowserConfig  # noqa: E402
from filebrowser_lib.routes import install  # noqa: E402

from modules.api.errors import install_error_handlers  # noqa: E402
from modules.users.directory import UserDirectory  # noqa: E402

INFOTEXT = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x48"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_app(data_dir: Path, *, readonly: bool = False, credentials: dict[str, str] | None = None,
             on_models_changed: Callable[[], None] | None = None, **config: Any) -> FastAPI:
    """A bare FastAPI app with only the FileBrowser routes and the app-wide error handlers."""
    app = FastAPI()
    app.state.users = UserDirectory.for_api(credentials or {})
    install_error_handlers(app)
    install(app, FileBrowserConfig(data_dir=data_dir, readonly=readonly, on_models_changed=on_models_changed,
                                   hash_cache_file=data_dir / "cache" / "hashes.json", **config))
    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn in a background thread on a free loopback port; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """models/Stable-diffusion/tiny.safetensors, outputs/cat.png (with infotext), notes.txt, an empty folder."""
    root = tmp_path / "data"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    (root / "models" / "Lora").mkdir()
    (root / "models" / "Stable-diffusion" / "tiny.safetensors").write_bytes(b"\x00weights" * 1000)
    (root / "outputs").mkdir()
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", INFOTEXT)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(root / "outputs" / "cat.png", pnginfo=info)
    (root / "notes.txt").write_text("hello\n")
    (root / "empty").mkdir()
    return root


@pytest.fixture()
def refreshes() -> list[int]:
    """Counts calls of on_models_changed."""
    return []


@pytest.fixture()
def server(data_dir: Path, refreshes: list[int]) -> Iterator[str]:
    with serve(make_app(data_dir, on_models_changed=lambda: refreshes.append(1))) as url:
        yield url


@pytest.fixture()
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as http:
        yield http


def tus_headers(**extra: str) -> dict[str, str]:
    """Tus-Resumable plus extra headers (underscores become dashes)."""
    return {"Tus-Resumable": "1.0.0", **{k.replace("_", "-"): v for k, v in extra.items()}}


def metadata(**values: str) -> str:
    """An Upload-Metadata header value."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def tus_create(http: httpx.Client, length: int, **meta: str) -> httpx.Response:
    return http.post("/filebrowser/api/tus/", headers=tus_headers(Upload_Length=str(length),
                                                                   Upload_Metadata=metadata(**meta)))


def tus_patch(http: httpx.Client, location: str, offset: int, data: bytes) -> httpx.Response:
    return http.patch(location, content=data, headers=tus_headers(
        Upload_Offset=str(offset), Content_Type="application/offset+octet-stream"))
