"""A real Redis for the tests: Debian's redis-server on a free loopback port, in a temporary folder, stopped by
its PID. ./run_tests.sh installs redis-server when it is missing."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.support import free_port, stop_process


class RedisServer:
    def __init__(self, folder: Path, *, appendonly: bool = False):
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.appendonly = appendonly
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (./run_tests.sh installs Debian's redis-server)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._log = open(self.folder / "redis.log", "wb")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.folder),
             "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec"],
            stdout=self._log, stderr=subprocess.STDOUT)
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            import redis

            try:
                if client.ping():
                    client.close()
                    return self
            except redis.ConnectionError as e:  # not listening yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    client.close()
                    raise RuntimeError(f"redis-server did not start: {(self.folder / 'redis.log').read_text()}") from e
                time.sleep(0.02)

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)

    def stop(self) -> None:
        stop_process(self.proc)
        if getattr(self, "_log", None):
            self._log.close()
