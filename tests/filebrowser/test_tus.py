"""tus 1.0.0 uploads over HTTP: creation, chunked PATCH, HEAD, result, conflicts, termination, confinement."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import httpx

from tests.filebrowser.conftest import make_app, serve, tus_create, tus_headers, tus_patch

API = "/filebrowser/api"


def test_options_advertises_protocol(client: httpx.Client) -> None:
    for path in ("/tus/", "/tus"):
        response = client.options(API + path)
        assert response.status_code == 204
        assert response.headers["tus-version"] == "1.0.0" and response.headers["tus-resumable"] == "1.0.0"
        assert set(response.headers["tus-extension"].split(",")) == {"creation", "termination", "expiration"}


def test_chunked_upload_into_models(client: httpx.Client, data_dir: Path, refreshes: list[int]) -> None:
    data = os.urandom(3 * 1024 * 1024 + 123)
    created = tus_create(client, len(data), filename="new.safetensors", path="models/Lora")
    assert created.status_code == 201 and created.headers["tus-resumable"] == "1.0.0"
    location = created.headers["location"]
    assert location.startswith(f"{API}/tus/") and "upload-expires" in created.headers
    upload_id = location.rsplit("/", 1)[1]
    assert (data_dir / "cache" / "uploads" / f"{upload_id}.part").is_file()
    assert (data_dir / "cache" / "uploads" / f"{upload_id}.json").is_file()
    offset = 0
    for size in (1_000_000, 1_500_000, len(data)):
        chunk = data[offset: offset + size]
        response = tus_patch(client, location, offset, chunk)
        assert response.status_code == 204, response.text
        offset += len(chunk)
        assert int(response.headers["upload-offset"]) == offset
        if offset < len(data):
            head = client.head(location, headers=tus_headers())
            assert head.status_code == 200 and head.headers["cache-control"] == "no-store"
            assert int(head.headers["upload-offset"]) == offset
            assert int(head.headers["upload-length"]) == len(data)
            assert refreshes == []
    assert (data_dir / "models/Lora/new.safetensors").read_bytes() == data
    assert not (data_dir / "cache" / "uploads" / f"{upload_id}.part").exists()
    result = client.get(f"{location}/result").json()
    assert result == {"path": "models/Lora/new.safetensors", "size": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()}
    assert refreshes == [1]
    assert int(client.head(location, headers=tus_headers()).headers["upload-offset"]) == len(data)


def test_offset_mismatch_and_protocol_errors(client: httpx.Client) -> None:
    location = tus_create(client, 10, filename="a.bin").headers["location"]
    assert tus_patch(client, location, 0, b"12345").status_code == 204
    mismatch = tus_patch(client, location, 2, b"xyz")
    assert mismatch.status_code == 409 and mismatch.headers["upload-offset"] == "5"
    assert mismatch.headers["tus-resumable"] == "1.0.0" and mismatch.json()["error"] == "ConflictError"
    assert tus_patch(client, location, 7, b"x").status_code == 409
    assert tus_patch(client, location, 5, b"123456").status_code == 413  # past Upload-Length
    no_version = client.patch(location, content=b"x", headers={"Upload-Offset": "5",
                                                                "Content-Type": "application/offset+octet-stream"})
    assert no_version.status_code == 412 and no_version.headers["tus-version"] == "1.0.0"
    wrong_type = client.patch(location, content=b"x", headers=tus_headers(Upload_Offset="5"))
    assert wrong_type.status_code == 415
    assert client.post(f"{API}/tus/", headers=tus_headers()).status_code == 400  # no Upload-Length
    assert client.post(f"{API}/tus/", headers=tus_headers(Upload_Length="-1")).status_code == 400
    bad_meta = client.post(f"{API}/tus/", headers=tus_headers(Upload_Length="1", Upload_Metadata="filename !!"))
    assert bad_meta.status_code == 400
    assert tus_create(client, 1).status_code == 422  # no filename
    assert client.head(f"{API}/tus/{'f' * 32}", headers=tus_headers()).status_code == 404
    assert client.head(f"{API}/tus/..%2f..%2fetc", headers=tus_headers()).status_code == 404
    assert int(client.head(location, headers=tus_headers()).headers["upload-offset"]) == 5
    assert client.get(f"{location}/result").status_code == 409  # not finished


def test_conflicts_keep_the_part(client: httpx.Client, data_dir: Path) -> None:
    assert tus_create(client, 3, filename="notes.txt").status_code == 409  # exists, no overwrite
    location = tus_create(client, 3, filename="late.txt").headers["location"]
    (data_dir / "late.txt").write_text("first")  # appears while the upload runs
    final = tus_patch(client, location, 0, b"new")
    assert final.status_code == 409 and "overwrite" in final.json()["detail"]
    assert (data_dir / "late.txt").read_text() == "first"
    assert int(client.head(location, headers=tus_headers()).headers["upload-offset"]) == 3  # part kept
    (data_dir / "late.txt").unlink()
    assert tus_patch(client, location, 3, b"").status_code == 204  # retry the placement
    assert (data_dir / "late.txt").read_text() == "new"
    replace = tus_create(client, 2, filename="notes.txt", overwrite="true").headers["location"]
    assert tus_patch(client, replace, 0, b"hi").status_code == 204
    assert (data_dir / "notes.txt").read_text() == "hi"
    assert tus_create(client, 1, filename="models", overwrite="true").status_code == 409  # never a folder


def test_upload_destination_confined(client: httpx.Client, data_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (data_dir / "escape").symlink_to(outside, target_is_directory=True)
    attacks = [{"path": "../"}, {"path": "/etc"}, {"path": "escape"}, {"path": "models/../.."},
               {"path": str(outside)}, {"filename": "../evil.txt"}, {"filename": "a/../../evil.txt"},
               {"path": "cache/uploads"}, {"filename": "..\\evil.txt"}]
    for attack in attacks:
        response = tus_create(client, 4, **{"filename": "evil.txt", **attack})
        assert response.status_code == 403, (attack, response.text)
        assert response.json()["error"] == "ForbiddenPathError"
    assert os.listdir(outside) == [] and not (tmp_path / "evil.txt").exists()
    assert list((data_dir / "cache" / "uploads").glob("*.part")) == []


def test_termination_and_zero_length(client: httpx.Client, data_dir: Path) -> None:
    location = tus_create(client, 10, filename="gone.bin").headers["location"]
    tus_patch(client, location, 0, b"abc")
    assert client.delete(location, headers=tus_headers()).status_code == 204
    assert client.head(location, headers=tus_headers()).status_code == 404
    assert list((data_dir / "cache" / "uploads").iterdir()) == [] and not (data_dir / "gone.bin").exists()
    empty = tus_create(client, 0, filename="empty.txt", path="outputs/sub")
    assert empty.status_code == 201 and (data_dir / "outputs/sub/empty.txt").read_bytes() == b""
    assert client.get(empty.headers["location"] + "/result").json()["sha256"] == hashlib.sha256(b"").hexdigest()


def test_method_override(client: httpx.Client, data_dir: Path) -> None:
    location = tus_create(client, 4, filename="o.bin").headers["location"]
    patched = client.post(location, content=b"data", headers=tus_headers(
        X_HTTP_Method_Override="PATCH", Upload_Offset="0", Content_Type="application/offset+octet-stream"))
    assert patched.status_code == 204 and (data_dir / "o.bin").read_bytes() == b"data"
    head = client.post(location, headers=tus_headers(X_HTTP_Method_Override="HEAD"))
    assert head.headers["upload-offset"] == "4"
    assert client.post(location, headers=tus_headers()).status_code == 400


def test_expired_uploads_are_removed(data_dir: Path) -> None:
    with serve(make_app(data_dir, upload_expiry_s=0.3)) as url, httpx.Client(base_url=url) as http:
        location = tus_create(http, 5, filename="slow.bin").headers["location"]
        other = tus_create(http, 5, filename="slower.bin").headers["location"]
        time.sleep(0.5)
        gone = http.head(location, headers=tus_headers())
        assert gone.status_code == 410 and gone.headers["tus-resumable"] == "1.0.0"
        tus_create(http, 1, filename="fresh.bin")  # creation sweeps the other expired upload
        assert http.head(other, headers=tus_headers()).status_code == 404
        assert len(list((data_dir / "cache" / "uploads").glob("*.part"))) == 1
