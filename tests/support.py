"""Test helpers: tiny checkpoints on disk and a real Easel server process on a free loopback port."""
from __future__ import annotations

import base64
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_data_dir(root: Path, checkpoints: dict[str, int] | None = None, family: str = "sd1") -> Path:
    """A data dir whose models/Stable-diffusion holds tiny random checkpoints {file name: seed}."""
    from modules.model_registry.tiny import write_tiny_checkpoint

    ckpt_dir = root / "models" / "Stable-diffusion"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    for name, seed in (checkpoints or {"tiny-a.safetensors": 0}).items():
        (ckpt_dir / name).parent.mkdir(parents=True, exist_ok=True)
        write_tiny_checkpoint(ckpt_dir / name, family=family, seed=seed)
    return root


def stop_process(proc: subprocess.Popen | None, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; nothing when the process has already ended."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class EaselServer:
    """`launch.py` in a subprocess; `url` is its base URL once `start()` returns."""

    def __init__(self, data_dir: Path, *flags: str, webui: bool = False, env: dict | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.flags = list(flags)
        self.webui = webui
        self.env = env or {}
        self.log_path = data_dir / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> EaselServer:
        cmd = [sys.executable, str(ROOT / "launch.py"), "--skip-install", "--data-dir", str(self.data_dir),
               "--port", str(self.port), *self.flags]
        if not self.webui:
            cmd.append("--nowebui")
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **self.env)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/internal/ping", timeout=2).status_code in (200, 401):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc)
        if getattr(self, "_log", None):
            self._log.close()

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 120), **kwargs)


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_b64_image(data: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data)))


def wait_for(predicate, timeout: float = 90.0, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy (and return that); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not reached within {timeout}s")
