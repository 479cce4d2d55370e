"""The in-process test tier: the real app (`launch.assemble`: services, extensions, routes) driven through httpx's
ASGITransport, without a server process. Most API behaviour is tested here; subprocess servers
(tests/support.py) stay for smoke, crash, multi-process and browser tests.

`InProcessServer` has the interface of `tests.support.EaselServer` that API tests use (`start`, `stop`,
`client()`), and its clients answer like `httpx.Client`. Responses are read whole, so endless streams (SSE)
belong to the subprocess tier.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx

from tests.support import ROOT


def assemble(data_dir: Path, *flags: str):
    """(services, app) for a data dir, exactly as launch.py builds them (API only)."""
    import launch
    from modules import script_callbacks
    from modules.cmd_args import parse_args_with_extensions

    script_callbacks.clear_callbacks()  # the extensions register theirs again while they load
    cmd_opts, extensions = parse_args_with_extensions(["--data-dir", str(data_dir), "--nowebui", *flags], ROOT)
    return launch.assemble(cmd_opts, extensions)


class _Loop:
    """One event loop on a background thread: sync test code submits coroutines to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="inprocess-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class InProcessClient:
    """A sync client over the app; the same call shapes as httpx.Client (get, post, request, auth=, json=...)."""

    def __init__(self, server: InProcessServer, timeout: float, **kwargs: Any):
        self._server = server
        self._timeout = timeout
        self._kwargs = kwargs
        self._client: httpx.AsyncClient | None = None

    def __enter__(self) -> InProcessClient:
        transport = httpx.ASGITransport(app=self._server.app)
        self._client = httpx.AsyncClient(transport=transport, base_url=self._server.url, timeout=self._timeout,
                                         **self._kwargs)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._client is not None:
            self._server.loop.run(self._client.aclose())
            self._client = None

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        assert self._client is not None, "use the client as a context manager"
        return self._server.loop.run(self._client.request(method, url, **kwargs), timeout=self._timeout + 5)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


class InProcessServer:
    url = "http://testserver"

    def __init__(self, data_dir: Path, *flags: str):
        self.data_dir = data_dir
        self.flags = flags
        self.services: Any = None
        self.app: Any = None
        self.loop = _Loop()

    def start(self) -> InProcessServer:
        self.services, self.app = assemble(self.data_dir, *self.flags)
        self.services.start()
        return self

    def stop(self) -> None:
        if self.services is not None:
            self.services.stop()
            self.services = None
        self.loop.close()

    def client(self, **kwargs: Any) -> InProcessClient:
        return InProcessClient(self, kwargs.pop("timeout", 120), **kwargs)
