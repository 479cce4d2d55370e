"""Resuming tus uploads: across a server restart, after a dropped connection, and with the tuspy client."""
from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from tusclient import client as client_module  # noqa: E402  (tuspy, from requirements-test.txt)

from tests.filebrowser.conftest import make_app, serve, tus_create, tus_headers, tus_patch

API = "/filebrowser/api"


def head_offset(http: httpx.Client, location: str) -> int:
    response = http.head(location, headers=tus_headers())
    assert response.status_code == 200, response.text
    return int(response.headers["upload-offset"])


def test_resume_after_restart(data_dir: Path) -> None:
    """Half an upload, a fresh app over the same data dir, HEAD gives the offset, the rest completes it."""
    data = os.urandom(2_500_000)
    with serve(make_app(data_dir)) as url, httpx.Client(base_url=url) as http:
        location = tus_create(http, len(data), filename="big.bin", path="outputs").headers["location"]
        assert tus_patch(http, location, 0, data[:1_200_000]).status_code == 204
    with serve(make_app(data_dir)) as url, httpx.Client(base_url=url) as http:
        assert head_offset(http, location) == 1_200_000
        assert tus_patch(http, location, 1_200_000, data[1_200_000:2_000_000]).status_code == 204
        assert tus_patch(http, location, 2_000_000, data[2_000_000:]).status_code == 204
        result = http.get(f"{location}/result").json()
    assert result["sha256"] == hashlib.sha256(data).hexdigest()  # re-hashed the part written before the restart
    assert (data_dir / "outputs" / "big.bin").read_bytes() == data


def test_dropped_connection_keeps_received_bytes(client: httpx.Client, server: str, data_dir: Path) -> None:
    """A PATCH whose connection dies half-way keeps what arrived; the client resumes from HEAD."""
    data = os.urandom(3_000_000)
    location = tus_create(client, len(data), filename="drop.bin").headers["location"]
    parts = urlsplit(server)
    request = (f"PATCH {location} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
               f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
               f"Content-Length: {len(data)}\r\n\r\n").encode()
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(request + data[:1_500_000])
        time.sleep(0.3)
    deadline = time.monotonic() + 5
    offset, previous = head_offset(client, location), -1
    while (offset == 0 or offset != previous) and time.monotonic() < deadline:  # until the server settles
        time.sleep(0.1)
        offset, previous = head_offset(client, location), offset
    assert 0 < offset <= 1_500_000
    part = data_dir / "cache" / "uploads" / (location.rsplit("/", 1)[1] + ".part")
    assert part.read_bytes() == data[:offset]
    assert tus_patch(client, location, offset, data[offset:]).status_code == 204
    assert client.get(f"{location}/result").json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert (data_dir / "drop.bin").read_bytes() == data


def test_tuspy_upload(server: str, data_dir: Path, tmp_path: Path, refreshes: list[int]) -> None:
    source = tmp_path / "model.safetensors"
    source.write_bytes(os.urandom(1_300_000))
    tus = client_module.TusClient(server + f"{API}/tus/")
    with open(source, "rb") as stream:
        uploader = tus.uploader(file_stream=stream, chunk_size=256 * 1024,
                                metadata={"filename": "model.safetensors", "path": "models/Stable-diffusion"})
        uploader.upload()
    target = data_dir / "models" / "Stable-diffusion" / "model.safetensors"
    assert target.read_bytes() == source.read_bytes() and refreshes == [1]
    result = httpx.get(uploader.url + "/result").json()
    assert result["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_tuspy_interrupted_then_resumed(server: str, data_dir: Path, tmp_path: Path) -> None:
    """Two chunks with upload_chunk(), then a new uploader given the URL resumes from the server's offset."""
    source = tmp_path / "photo.bin"
    source.write_bytes(os.urandom(1_000_000))
    tus = client_module.TusClient(server + f"{API}/tus/")
    with open(source, "rb") as stream:
        first = tus.uploader(file_stream=stream, chunk_size=300_000, metadata={"filename": "photo.bin"})
        first.upload_chunk()
        first.upload_chunk()
    assert first.offset == 600_000 and not (data_dir / "photo.bin").exists()
    with open(source, "rb") as stream:  # a new process would know only the URL
        resumed = tus.uploader(file_stream=stream, chunk_size=300_000, url=first.url)
        assert resumed.offset == 600_000  # asked the server with HEAD
        resumed.upload()
    assert (data_dir / "photo.bin").read_bytes() == source.read_bytes()
