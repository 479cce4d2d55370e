"""The FileBrowser REST routes on a real uvicorn server: listing, downloads, thumbnails, info and writes."""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import httpx
from PIL import Image

from tests.filebrowser.conftest import INFOTEXT, make_app, serve

API = "/filebrowser/api"


def test_list_root_dirs_first(client: httpx.Client) -> None:
    listing = client.get(f"{API}/list").json()
    assert listing["path"] == "" and listing["total"] == 4
    assert [e["name"] for e in listing["entries"]] == ["empty", "models", "outputs", "notes.txt"]
    notes = listing["entries"][-1]
    assert notes == {**notes, "path": "notes.txt", "is_dir": False, "size": 6, "is_image": False}
    assert notes["modified"].endswith("+00:00")
    page = client.get(f"{API}/list", params={"offset": 1, "limit": 2}).json()
    assert [e["name"] for e in page["entries"]] == ["models", "outputs"] and page["total"] == 4


def test_list_subfolder_and_errors(client: httpx.Client) -> None:
    outputs = client.get(f"{API}/list", params={"path": "outputs"}).json()
    assert outputs["entries"][0] | {"modified": ""} == {
        "name": "cat.png", "path": "outputs/cat.png", "is_dir": False, "size": outputs["entries"][0]["size"],
        "modified": "", "is_image": True, "is_symlink": False, "outside": False, "sha256": None, "in_use": None}
    missing = client.get(f"{API}/list", params={"path": "nope"})
    assert missing.status_code == 404 and set(missing.json()) == {"error", "detail", "body", "errors"}
    assert client.get(f"{API}/list", params={"path": "notes.txt"}).status_code == 422


def test_download_file_identical(client: httpx.Client, data_dir: Path) -> None:
    response = client.get(f"{API}/download", params={"path": "models/Stable-diffusion/tiny.safetensors"})
    assert response.status_code == 200
    assert response.content == (data_dir / "models/Stable-diffusion/tiny.safetensors").read_bytes()
    assert 'filename="tiny.safetensors"' in response.headers["content-disposition"]
    assert response.headers["content-disposition"].startswith("attachment")
    ranged = client.get(f"{API}/download", params={"path": "notes.txt"}, headers={"Range": "bytes=1-3"})
    assert ranged.status_code == 206 and ranged.content == b"ell"


def test_download_folder_as_zip(client: httpx.Client, data_dir: Path) -> None:
    (data_dir / "models" / "Lora" / "ü.txt").write_text("unicode")
    response = client.get(f"{API}/download", params={"path": "models"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert 'filename="models.zip"' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    names = set(archive.namelist())
    assert {"models/", "models/Lora/", "models/Stable-diffusion/", "models/Lora/ü.txt",
            "models/Stable-diffusion/tiny.safetensors"} <= names
    weights = (data_dir / "models/Stable-diffusion/tiny.safetensors").read_bytes()
    assert archive.read("models/Stable-diffusion/tiny.safetensors") == weights


def test_thumbnail(client: httpx.Client, data_dir: Path) -> None:
    response = client.get(f"{API}/thumbnail", params={"path": "outputs/cat.png", "size": 32})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(response.content))
    assert max(thumb.size) == 32 and thumb.size == (32, 24)
    Image.new("RGBA", (100, 100), (0, 0, 0, 0)).save(data_dir / "outputs" / "alpha.webp")
    alpha = client.get(f"{API}/thumbnail", params={"path": "outputs/alpha.webp"})
    assert alpha.headers["content-type"] == "image/png" and Image.open(io.BytesIO(alpha.content)).size == (100, 100)
    assert client.get(f"{API}/thumbnail", params={"path": "notes.txt"}).status_code == 422
    assert client.get(f"{API}/thumbnail", params={"path": "outputs/cat.png", "size": 5000}).status_code == 422


def test_thumbnail_refuses_decompression_bomb(client: httpx.Client, data_dir: Path) -> None:
    """A 20000x20000 PNG (tiny on disk) is refused from its header, before any decode."""
    Image.new("1", (20000, 20000)).save(data_dir / "outputs" / "bomb.png")
    response = client.get(f"{API}/thumbnail", params={"path": "outputs/bomb.png"})
    assert response.status_code == 422 and "pixel" in response.json()["detail"]
    assert client.get(f"{API}/list").status_code == 200


def test_info(client: httpx.Client, data_dir: Path) -> None:
    model = data_dir / "models/Stable-diffusion/tiny.safetensors"
    info = client.get(f"{API}/info", params={"path": "models/Stable-diffusion/tiny.safetensors"}).json()
    assert info["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest() and info["size"] == model.stat().st_size
    assert (data_dir / "cache" / "hashes.json").is_file()  # the model registry's cache was used
    image = client.get(f"{API}/info", params={"path": "outputs/cat.png"}).json()
    assert image["image"]["infotext"] == INFOTEXT and image["image"]["width"] == 64
    folder = client.get(f"{API}/info", params={"path": "models"}).json()
    assert folder["is_dir"] and folder["entries"] == 2 and folder["sha256"] is None
    assert client.get(f"{API}/info", params={"path": "notes.txt", "sha256": "false"}).json()["sha256"] is None


def test_mkdir_move_delete(client: httpx.Client, data_dir: Path, refreshes: list[int]) -> None:
    made = client.post(f"{API}/mkdir", json={"path": "outputs/new/deep"})
    assert made.status_code == 200 and made.json()["is_dir"] and (data_dir / "outputs/new/deep").is_dir()
    again = client.post(f"{API}/mkdir", json={"path": "outputs/new"})
    assert again.status_code == 409 and again.json()["error"] == "ConflictError"
    moved = client.post(f"{API}/move", json={"src": "notes.txt", "dst": "outputs/new/notes.md"})
    assert moved.status_code == 200 and moved.json()["dst"] == "outputs/new/notes.md"
    assert (data_dir / "outputs/new/notes.md").read_text() == "hello\n" and not (data_dir / "notes.txt").exists()
    assert refreshes == []  # nothing under models/ changed yet
    (data_dir / "other.md").write_text("other")
    conflict = client.post(f"{API}/move", json={"src": "other.md", "dst": "outputs/new/notes.md"})
    assert conflict.status_code == 409 and "overwrite" in conflict.json()["detail"]
    assert (data_dir / "outputs/new/notes.md").read_text() == "hello\n"
    replaced = client.post(f"{API}/move", json={"src": "other.md", "dst": "outputs/new/notes.md", "overwrite": True})
    assert replaced.status_code == 200 and (data_dir / "outputs/new/notes.md").read_text() == "other"
    over_dir = client.post(f"{API}/move", json={"src": "outputs/cat.png", "dst": "outputs/new", "overwrite": True})
    assert over_dir.status_code == 409 and (data_dir / "outputs/cat.png").is_file()
    assert client.post(f"{API}/move", json={"src": "outputs", "dst": "outputs/new/x"}).status_code == 422
    assert client.post(f"{API}/move", json={"src": "nope", "dst": "x"}).status_code == 404
    assert client.post(f"{API}/move", json={"src": "empty", "dst": "nowhere/empty"}).status_code == 404
    into_models = client.post(f"{API}/move", json={"src": "outputs/cat.png", "dst": "models/Lora/cat.png"})
    assert into_models.status_code == 200 and refreshes == [1]
    assert client.delete(f"{API}/delete", params={"path": "models/Lora/cat.png"}).status_code == 200
    assert refreshes == [1, 1]
    assert client.delete(f"{API}/delete", params={"path": "outputs/new"}).json() == {"deleted": "outputs/new"}
    assert not (data_dir / "outputs/new").exists()
    assert client.delete(f"{API}/delete", params={"path": "outputs/new"}).status_code == 404
    assert client.delete(f"{API}/delete", params={"path": "/"}).status_code == 403 and data_dir.is_dir()
    assert client.post(f"{API}/mkdir", json={}).status_code == 422


def test_readonly_refuses_writes(data_dir: Path) -> None:
    with serve(make_app(data_dir, readonly=True)) as url, httpx.Client(base_url=url) as http:
        refused = [
            http.post(f"{API}/mkdir", json={"path": "x"}),
            http.post(f"{API}/move", json={"src": "notes.txt", "dst": "n.txt"}),
            http.delete(f"{API}/delete", params={"path": "notes.txt"}),
            http.post(f"{API}/tus/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1",
                                              "Upload-Metadata": "filename eA=="}),
            http.patch(f"{API}/tus/{'0' * 32}", headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                                                          "Content-Type": "application/offset+octet-stream"}),
            http.delete(f"{API}/tus/{'0' * 32}", headers={"Tus-Resumable": "1.0.0"}),
        ]
        for response in refused:
            assert response.status_code == 403, response.text
            assert "read-only" in response.json()["detail"]
        assert http.get(f"{API}/list").status_code == 200
        assert http.get(f"{API}/download", params={"path": "notes.txt"}).content == b"hello\n"
    assert (data_dir / "notes.txt").is_file() and not (data_dir / "x").exists()


def test_routes_require_api_auth(data_dir: Path) -> None:
    with serve(make_app(data_dir, credentials={"admin": "s3cret"})) as url, httpx.Client(base_url=url) as http:
        for method, route in [("GET", "/list"), ("GET", "/download?path=notes.txt"), ("POST", "/mkdir"),
                              ("DELETE", "/delete?path=notes.txt"), ("POST", "/tus/"), ("OPTIONS", "/tus/")]:
            response = http.request(method, API + route)
            assert response.status_code == 401, (method, route)
        tus = http.post(f"{API}/tus/", headers={"Tus-Resumable": "1.0.0"})
        assert tus.headers["tus-resumable"] == "1.0.0"
        assert http.get(f"{API}/list", auth=("admin", "wrong")).status_code == 401
        assert http.get(f"{API}/list", auth=("admin", "s3cret")).status_code == 200
    assert (data_dir / "notes.txt").is_file()


def test_listing_shows_cached_hashes_and_files_in_use(data_dir: Path) -> None:
    model = data_dir / "models" / "Stable-diffusion" / "tiny.safetensors"
    from modules.model_registry.hashes import sha256_file

    sha = sha256_file(model, data_dir / "cache" / "hashes.json")
    in_use = {str(model): "the selected checkpoint"}
    with serve(make_app(data_dir, in_use=lambda: in_use)) as url, httpx.Client(base_url=url) as http:
        entries = {e["name"]: e for e in http.get(f"{API}/list", params={"path": "models/Stable-diffusion"})
                   .json()["entries"]}
        assert entries["tiny.safetensors"]["sha256"] == sha
        assert entries["tiny.safetensors"]["in_use"] == "the selected checkpoint"
        models = {e["name"]: e for e in http.get(f"{API}/list", params={"path": "models"}).json()["entries"]}
        assert models["Stable-diffusion"]["in_use"] == "the selected checkpoint"  # the folder holding it
        assert models["Lora"]["in_use"] is None and models["Lora"]["sha256"] is None
        model.write_bytes(b"changed")  # a stale cache entry is not shown
        entries = http.get(f"{API}/list", params={"path": "models/Stable-diffusion"}).json()["entries"]
        assert entries[0]["sha256"] is None


def test_download_a_selection_as_one_zip(data_dir: Path) -> None:
    (data_dir / "private").mkdir()
    (data_dir / "private" / "secrets.json").write_text('{"key": "s3cret"}')
    (data_dir / "tasks.sqlite3").write_bytes(b"SQLite format 3\x00")
    protected = [data_dir / "private", data_dir / "tasks.sqlite3"]
    with serve(make_app(data_dir, protected=protected)) as url, httpx.Client(base_url=url) as http:
        response = http.get(f"{API}/download-zip", params={"path": ["notes.txt", "outputs", "notes.txt"]})
        assert response.status_code == 200 and 'filename="selection.zip"' in response.headers["content-disposition"]
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        assert set(archive.namelist()) == {"notes.txt", "outputs/", "outputs/cat.png"}
        assert archive.read("notes.txt") == b"hello\n"
        whole = zipfile.ZipFile(io.BytesIO(http.get(f"{API}/download-zip", params={"path": [""]}).content))
        assert "data/notes.txt" in whole.namelist()  # the root folder under its own name
        assert not any("secrets" in n or "tasks.sqlite3" in n for n in whole.namelist())  # the data dir, minus
        for private in ("private/secrets.json", "tasks.sqlite3", "./TASKS.sqlite3"):
            assert http.get(f"{API}/download-zip", params={"path": ["notes.txt", private]}).status_code == 403
        assert http.get(f"{API}/download-zip", params={"path": ["nope.txt"]}).status_code == 404
