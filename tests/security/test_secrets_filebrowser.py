"""Issue 18 item 3: the secrets and the live task database never appear in the FileBrowser, whatever the spelling."""
from __future__ import annotations

import base64
import io
import json
import os
import zipfile

import pytest

from tests.security.conftest import error_text

API = "/filebrowser/api"
PRIVATE_FILES = ("private/secrets.json", "secrets.json", "tasks.sqlite3", "tasks.sqlite3-wal", "tasks.sqlite3-shm")


def _secret_values(server) -> list[str]:
    for place in ("private/secrets.json", "secrets.json"):  # where the server keeps them (before the fix: the top)
        path = server.data_dir / place
        if path.is_file():
            return list(json.loads(path.read_text()).values())
    raise AssertionError("the server wrote no secrets file")


def _spellings(server, rel: str) -> list[str]:
    head, _, name = rel.rpartition("/")
    prefix = f"{head}/" if head else ""
    return [rel, f"./{rel}", f"/{rel}".replace("/", "//"), f"{prefix}./{name}", rel.upper(), rel.title(),
            str(server.data_dir / rel), f"{str(server.data_dir)}//{rel}", f"models/../{rel}"]


def _assert_refused(response, secrets: list[str]) -> None:
    assert response.status_code in (403, 404), response.text[:300]
    body = response.content
    assert not any(secret.encode() in body for secret in secrets)


def test_secrets_are_not_in_the_data_dir_top(secure_server):
    assert (secure_server.data_dir / "private" / "secrets.json").is_file()
    assert not (secure_server.data_dir / "secrets.json").exists()
    assert oct((secure_server.data_dir / "private" / "secrets.json").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("route", ["/download", "/info", "/thumbnail", "/list"])
def test_reads_refused_in_every_spelling(api, secure_server, route):
    secrets = _secret_values(secure_server)
    for rel in (*PRIVATE_FILES, "private"):
        for spelling in _spellings(secure_server, rel):
            response = api.get(f"{API}{route}", params={"path": spelling})
            if response.status_code == 404 and not (secure_server.data_dir / rel).exists():
                continue  # a file SQLite has not created (yet): nothing to read either way
            _assert_refused(response, secrets)
            assert response.status_code == 403, (route, spelling, response.text)


def test_symlinks_and_hard_links_to_secrets_are_refused(api, secure_server):
    secrets = _secret_values(secure_server)
    links = secure_server.data_dir / "outputs" / "innocent"
    links.mkdir(parents=True, exist_ok=True)
    (links / "s.json").symlink_to(secure_server.data_dir / "private" / "secrets.json")
    (links / "db").symlink_to(secure_server.data_dir / "tasks.sqlite3")
    (links / "priv").symlink_to(secure_server.data_dir / "private", target_is_directory=True)
    os.link(secure_server.data_dir / "private" / "secrets.json", links / "hard.json")
    try:
        for rel in ("outputs/innocent/s.json", "outputs/innocent/db", "outputs/innocent/priv/secrets.json",
                    "outputs/innocent/hard.json"):
            _assert_refused(api.get(f"{API}/download", params={"path": rel}), secrets)
        names = [e["name"] for e in api.get(f"{API}/list", params={"path": "outputs/innocent"}).json()["entries"]]
        assert names == []
        archive = api.get(f"{API}/download", params={"path": "outputs/innocent"})
        assert archive.status_code == 200
        assert not any(secret.encode() in archive.content for secret in secrets)
    finally:
        for child in links.iterdir():
            child.unlink()
        links.rmdir()


def test_listing_and_zip_of_the_top_leave_them_out(api, secure_server):
    secrets = _secret_values(secure_server)
    names = {e["name"] for e in api.get(f"{API}/list").json()["entries"]}
    assert names and not names & {"private", "secrets.json", "tasks.sqlite3", "tasks.sqlite3-wal", "tasks.sqlite3-shm"}
    archive = api.get(f"{API}/download", params={"path": ""})
    assert archive.status_code == 200
    members = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert not [m for m in members if "secrets" in m or "tasks.sqlite3" in m or "/private/" in m]
    assert not any(secret.encode() in archive.content for secret in secrets)


def test_writes_refused(api, secure_server):
    data = secure_server.data_dir
    before = (data / "private" / "secrets.json").read_bytes()
    (data / "outputs").mkdir(exist_ok=True)
    (data / "outputs" / "note.txt").write_text("x")
    for rel in (*PRIVATE_FILES, "private"):
        for spelling in _spellings(secure_server, rel)[:6]:
            assert api.delete(f"{API}/delete", params={"path": spelling}).status_code == 403, spelling
            moved = api.post(f"{API}/move", json={"src": spelling, "dst": "outputs/stolen"})
            assert moved.status_code == 403, spelling
            over = api.post(f"{API}/move", json={"src": "outputs/note.txt", "dst": spelling, "overwrite": True})
            assert over.status_code == 403, spelling
    assert api.post(f"{API}/mkdir", json={"path": "private/x"}).status_code == 403
    assert api.post(f"{API}/mkdir", json={"path": "PRIVATE/x"}).status_code == 403
    assert (data / "private" / "secrets.json").read_bytes() == before and (data / "tasks.sqlite3").is_file()
    assert not (data / "outputs" / "stolen").exists() and (data / "outputs" / "note.txt").is_file()


def _tus_create(api, folder: str, name: str, size: int = 2):
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    metadata = f"filename {b64(name)},path {b64(folder)},overwrite {b64('true')}"
    return api.post(f"{API}/tus/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(size),
                                            "Upload-Metadata": metadata})


def test_tus_uploads_cannot_target_them(api, secure_server):
    before = (secure_server.data_dir / "private" / "secrets.json").read_bytes()
    for folder, name in (("private", "secrets.json"), ("", "secrets.json"), ("", "tasks.sqlite3"),
                         ("", "TASKS.SQLITE3-wal"), ("./private/", "x.json"), ("Private", "secrets.json")):
        response = _tus_create(api, folder, name)
        assert response.status_code == 403, (folder, name, error_text(response))
    assert (secure_server.data_dir / "private" / "secrets.json").read_bytes() == before
