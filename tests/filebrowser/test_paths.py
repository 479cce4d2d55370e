"""Confinement of user paths (PathGuard), and the same attacks over HTTP: all 403, nothing read or written."""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from filebrowser_lib.paths import PathGuard, check_name, is_within

from modules.errors import ForbiddenPathError, InvalidRequestError

ATTACKS = ["../", "..", "../etc/passwd", "models/../../etc", "/etc", "/etc/passwd", "a\x00b", "..\\etc",
           "models/..", "./../x"]


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    """A folder next to the data dir (shares its name as a prefix: data-private)."""
    secret = tmp_path / "data-private"
    secret.mkdir()
    (secret / "secret.txt").write_text("top secret")
    return secret


@pytest.fixture()
def linked(data_dir: Path, outside: Path) -> Path:
    """data/escape -> the outside folder; data/models/link.txt -> outside file; data/inner -> data/outputs."""
    (data_dir / "escape").symlink_to(outside, target_is_directory=True)
    (data_dir / "models" / "link.txt").symlink_to(outside / "secret.txt")
    (data_dir / "inner").symlink_to(data_dir / "outputs", target_is_directory=True)
    (data_dir / "dangling").symlink_to(outside / "not-yet")
    return data_dir


def test_resolve_plain_paths(data_dir: Path) -> None:
    guard = PathGuard(data_dir)
    assert guard.resolve("").is_root and guard.resolve(None).is_root and guard.resolve("./").is_root
    got = guard.resolve("models//Stable-diffusion/./tiny.safetensors")
    assert got.rel == "models/Stable-diffusion/tiny.safetensors"
    assert got.real == (data_dir / got.rel).resolve()
    assert guard.resolve(str(data_dir / "outputs")).rel == "outputs"  # absolute inside: accepted


@pytest.mark.parametrize("attack", ATTACKS)
def test_resolve_refuses_escapes(data_dir: Path, attack: str) -> None:
    with pytest.raises(ForbiddenPathError):
        PathGuard(data_dir).resolve(attack)


def test_prefix_collision_and_symlinks(linked: Path, outside: Path) -> None:
    guard = PathGuard(linked)
    assert not is_within(str(linked), str(outside))  # /x/data vs /x/data-private
    for path in ("escape", "escape/secret.txt", "models/link.txt", "dangling", str(outside / "secret.txt")):
        with pytest.raises(ForbiddenPathError):
            guard.resolve(path)
    inner = guard.resolve("inner/cat.png")
    assert inner.real == (linked / "outputs" / "cat.png").resolve() and inner.rel == "inner/cat.png"


def test_parent_symlink_out_and_back_is_refused(data_dir: Path, outside: Path) -> None:
    """data/out -> outside, outside/back -> data/models: `out/back` resolves inside but sits outside."""
    (data_dir / "out").symlink_to(outside, target_is_directory=True)
    (outside / "back").symlink_to(data_dir / "models", target_is_directory=True)
    with pytest.raises(ForbiddenPathError):
        PathGuard(data_dir).resolve("out/back")


def test_check_name() -> None:
    assert check_name("model.safetensors") == "model.safetensors"
    for bad in ("a/b", "..", ".", "x\x00", "a\\b"):
        with pytest.raises(ForbiddenPathError):
            check_name(bad)
    for bad in ("", "   ", "x" * 300):
        with pytest.raises(InvalidRequestError):
            check_name(bad)


@pytest.mark.parametrize("route", ["/list", "/download", "/info", "/thumbnail"])
def test_http_reads_refused(client: httpx.Client, linked: Path, route: str) -> None:
    attacks = [*ATTACKS, "escape", "escape/secret.txt", "models/link.txt", "dangling"]
    for attack in attacks:
        response = client.get(f"/filebrowser/api{route}", params={"path": attack})
        assert response.status_code == 403, (attack, response.text)
        assert "top secret" not in response.text
        assert response.json()["error"] == "ForbiddenPathError"
    raw = client.get(f"/filebrowser/api{route}?path=..%2f..%2fetc%2fpasswd")
    assert raw.status_code == 403


def test_http_writes_refused(client: httpx.Client, linked: Path, outside: Path) -> None:
    before = sorted(os.listdir(outside))
    api = "/filebrowser/api"
    assert client.post(f"{api}/mkdir", json={"path": "../evil"}).status_code == 403
    assert client.post(f"{api}/mkdir", json={"path": "escape/evil"}).status_code == 403
    assert client.post(f"{api}/mkdir", json={"path": "dangling"}).status_code == 403
    assert client.post(f"{api}/move", json={"src": "notes.txt", "dst": "../notes.txt"}).status_code == 403
    assert client.post(f"{api}/move", json={"src": "notes.txt", "dst": "escape/notes.txt"}).status_code == 403
    assert client.post(f"{api}/move", json={"src": "escape/secret.txt", "dst": "stolen.txt"}).status_code == 403
    assert client.post(f"{api}/move", json={"src": "notes.txt", "dst": "cache/uploads/x.part"}).status_code == 403
    assert client.delete(f"{api}/delete", params={"path": "escape/secret.txt"}).status_code == 403
    assert client.delete(f"{api}/delete", params={"path": "models/link.txt"}).status_code == 403
    assert client.delete(f"{api}/delete", params={"path": "escape"}).status_code == 403
    assert client.delete(f"{api}/delete", params={"path": str(outside)}).status_code == 403
    assert client.delete(f"{api}/delete", params={"path": ""}).status_code == 403  # the data dir itself
    assert sorted(os.listdir(outside)) == before and (outside / "secret.txt").read_text() == "top secret"
    assert (linked / "notes.txt").is_file() and (linked / "models" / "link.txt").is_symlink()


def test_listing_flags_links_out(client: httpx.Client, linked: Path) -> None:
    entries = {e["name"]: e for e in client.get("/filebrowser/api/list").json()["entries"]}
    assert entries["escape"]["outside"] and not entries["escape"]["is_dir"] and entries["escape"]["size"] == 0
    assert entries["inner"]["is_symlink"] and entries["inner"]["is_dir"] and not entries["inner"]["outside"]
    listed = client.get("/filebrowser/api/list", params={"path": "inner"}).json()
    assert [e["path"] for e in listed["entries"]] == ["inner/cat.png"]


def test_deleting_an_inner_symlink_removes_only_the_link(client: httpx.Client, linked: Path) -> None:
    assert client.delete("/filebrowser/api/delete", params={"path": "inner"}).status_code == 200
    assert not os.path.lexists(linked / "inner") and (linked / "outputs" / "cat.png").is_file()
