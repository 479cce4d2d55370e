"""Issue 18 item 6: SIGTERM stops the server promptly even while WebUI heartbeats and SSE streams are open."""
from __future__ import annotations

import signal
import subprocess
import threading

import httpx

from tests.support import EaselServer, make_data_dir, wait_for


def _hold_open(url: str, path: str, opened: list, closed: list) -> None:
    try:
        with httpx.Client(base_url=url, timeout=httpx.Timeout(5, read=None)) as client, \
                client.stream("GET", path) as response:
            opened.append(response.status_code)
            for _ in response.iter_raw():
                pass
    except httpx.HTTPError:
        pass
    closed.append(path)


def test_sigterm_with_open_streams_stops_within_seconds(tmp_path):
    server = EaselServer(make_data_dir(tmp_path), webui=True, env={"OMP_NUM_THREADS": "1"}).start(timeout=300)
    opened: list = []
    closed: list = []
    streams = ["/gradio_api/heartbeat/session-one", "/gradio_api/heartbeat/session-two",
               "/sdapi/v1/results/watch?consumer=stop-test"]
    threads = [threading.Thread(target=_hold_open, args=(server.url, path, opened, closed), daemon=True)
               for path in streams]
    try:
        for thread in threads:
            thread.start()
        wait_for(lambda: len(opened) == len(streams), timeout=60)
        assert opened == [200, 200, 200]
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError("the server was still running 15 s after SIGTERM") from exc
        wait_for(lambda: len(closed) == len(streams), timeout=10)
        assert "Application shutdown complete" in server.log()
    finally:
        server.stop()
