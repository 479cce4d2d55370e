"""Inputs and outputs through the configured object store, in process (the real app over moto_server with
signature checking on; signed URLs fetched through the PresignGate, which checks their SigV4 signatures):

- serverless `ossUrl` and task `urls` are the store's signed URLs, and the result paths are `s3://` references
  that work again as image inputs;
- `init_images` / `mask` / the extras `image` accept an `s3://` reference or a key relative to the store, read
  through the store (an object of the store is used where it lies, not copied); outside the store: 403;
- `save_images` outputs go to the store (`txt2img-images/<date>/...`), not to the local outputs folder.
"""
from __future__ import annotations

import base64
import io
import threading

import httpx
import pytest
from PIL import Image

from modules.model_registry.tiny import write_tiny_checkpoint
from tests.inprocess import InProcessServer
from tests.storage.conftest import BUCKET, s3_storage
from tests.support import make_data_dir
from tests.tasks.helpers import SMALL, wait_for

SLS = {"stable_diffusion_model": "tiny-a", "prompt": "a hill", "steps": 2, "width": 64, "height": 64, "seed": 3}
PREFIX = "io"


def _png(color: str, size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def store_app(tmp_path_factory, moto_s3, presign_gate):
    env = {"AWS_ACCESS_KEY_ID": moto_s3.access_key, "AWS_SECRET_ACCESS_KEY": moto_s3.secret_key,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        data_dir = make_data_dir(tmp_path_factory.mktemp("store-io"))
        models = tmp_path_factory.mktemp("store-models")  # written before the app starts (its loader is lazy)
        write_tiny_checkpoint(models / "a.safetensors", family="sd1", seed=7)
        write_tiny_checkpoint(models / "b.safetensors", family="sd1", seed=8)
        server = InProcessServer(data_dir, "--storage-url", f"s3://{BUCKET}/{PREFIX}", "--s3-endpoint-url",
                                 moto_s3.endpoint, "--s3-public-endpoint-url", presign_gate.endpoint,
                                 "--ckpt", "tiny-a").start()
        server.models = models
        try:
            yield server, s3_storage(moto_s3, PREFIX, gate=presign_gate)
        finally:
            server.stop()


@pytest.fixture()
def client(store_app):
    with store_app[0].client() as c:
        yield c


def test_serverless_answers_signed_store_urls_and_references(client, store_app, presign_gate):
    server, view = store_app
    answer = client.post("/txt2img", json=SLS)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    url = body["ossUrl"][0]
    assert url.startswith(presign_gate.endpoint + f"/{BUCKET}/{PREFIX}/tasks/") and "X-Amz-Signature=" in url
    served = httpx.get(url, timeout=10)
    assert served.status_code == 200 and served.content.startswith(b"\x89PNG")
    assert httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10).status_code == 403
    result = client.get(f"/tasks/{body['taskId']}/result").json()
    reference = result["images"][0]
    assert reference == f"s3://{BUCKET}/{PREFIX}/tasks/{body['taskId']}/00000.png"
    assert view.read(f"tasks/{body['taskId']}/00000.png") == served.content
    assert not (server.data_dir / "outputs" / "tasks").exists()

    # the reference works as an input again; so does a key relative to the store
    for init in (reference, f"tasks/{body['taskId']}/00000.png"):
        again = client.post("/img2img", json={**SLS, "init_images": [init], "denoising_strength": 0.5})
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "succeeded"


def test_a1111_image_fields_read_references_through_the_store(client, store_app):
    server, view = store_app
    view.write("inputs/red.png", _png("red"))
    view.write("inputs/mask.png", _png("white"))
    view.write("inputs/not-an-image.png", b"hello")
    body = {**SMALL, "init_images": [f"s3://{BUCKET}/{PREFIX}/inputs/red.png"], "mask": "inputs/mask.png",
            "denoising_strength": 0.5}
    answer = client.post("/sdapi/v1/img2img", json=body, headers={"Request-Type": "async"})
    assert answer.status_code == 200, answer.text
    task_id = answer.json()["task_id"]
    record = wait_for(lambda: (r := client.get(f"/sdapi/v1/tasks/{task_id}").json())["status"]
                      in ("succeeded", "failed") and r)
    assert record["status"] == "succeeded", record.get("error")
    stored = server.services.task_store.get(task_id)
    # objects of the store are used where they lie: the payload names their keys, no copy under tasks/<id>/
    assert stored.payload["init_images"] == ["inputs/red.png"]
    assert [i.key for i in view.list(f"tasks/{task_id}")] == [f"tasks/{task_id}/00000.png"]

    outside = client.post("/sdapi/v1/img2img", json={**body, "init_images": [f"s3://{BUCKET}/other/red.png"]})
    assert outside.status_code == 403 and "init_images[0]" in outside.text
    other_bucket = client.post("/sdapi/v1/img2img", json={**body, "init_images": ["s3://another-bucket/red.png"]})
    assert other_bucket.status_code == 403
    missing = client.post("/sdapi/v1/img2img", json={**body, "init_images": [f"s3://{BUCKET}/{PREFIX}/inputs/no.png"]})
    assert missing.status_code == 404 and "init_images[0]" in missing.text
    broken = client.post("/sdapi/v1/img2img", json={**body, "mask": f"s3://{BUCKET}/{PREFIX}/inputs/not-an-image.png"})
    assert broken.status_code == 422 and "mask" in broken.text
    traversal = client.post("/sdapi/v1/img2img", json={**body, "init_images": [f"s3://{BUCKET}/{PREFIX}/../x.png"]})
    assert traversal.status_code in (403, 422)


def test_extras_image_from_a_reference(client, store_app):
    _, view = store_app
    view.write("inputs/small.png", _png("blue", 32))
    body = {"image": f"s3://{BUCKET}/{PREFIX}/inputs/small.png", "upscaling_resize": 2, "upscaler_1": "Lanczos"}
    answer = client.post("/sdapi/v1/extra-single-image", json=body)
    assert answer.status_code == 200, answer.text
    assert Image.open(io.BytesIO(base64.b64decode(answer.json()["image"]))).size == (64, 64)


def test_save_images_outputs_go_to_the_store(client, store_app):
    server, view = store_app
    answer = client.post("/sdapi/v1/txt2img", json={**SMALL, "save_images": True})
    assert answer.status_code == 200, answer.text
    saved = [info.key for info in view.list("txt2img-images")]
    assert len(saved) == 1 and saved[0].endswith(f"-{SMALL['seed']}.png")
    data = view.read(saved[0])
    assert Image.open(io.BytesIO(data)).text["parameters"].startswith(SMALL["prompt"])
    assert not (server.data_dir / "outputs" / "txt2img-images").exists()
    # numbering continues in the store
    client.post("/sdapi/v1/txt2img", json={**SMALL, "save_images": True})
    names = sorted(info.key.rsplit("/", 1)[1] for info in view.list("txt2img-images"))
    assert [n.split("-")[0] for n in names] == ["00000", "00001"]


def test_managed_service_save_dir_goes_to_the_store(client, store_app, presign_gate):
    server, view = store_app
    body = {**SMALL, "batch_size": 2, "alwayson_scripts": {"save_dir": "/code/stable-diffusion-webui/data/outputs",
                                                           "uid": "u1"}}
    answer = client.post("/sdapi/v1/txt2img", json=body)
    assert answer.status_code == 200, answer.text
    parameters = answer.json()["parameters"]
    references = parameters["image_url"].split(",")
    signed = parameters["image_signed_url"].split(",")
    assert len(references) == len(signed) == 3  # the grid, then the two images
    root = f"s3://{BUCKET}/{PREFIX}/u1/"
    assert references[0].startswith(root + "txt2img-grids/") and all(
        r.startswith(root + "txt2img-images/") for r in references[1:])
    for reference, url in zip(references, signed, strict=True):
        served = httpx.get(url, timeout=10)
        assert url.startswith(presign_gate.endpoint) and served.status_code == 200
        assert served.content == view.read(reference[len(f"s3://{BUCKET}/{PREFIX}/"):])
    assert not (server.data_dir / "outputs" / "u1").exists()


def test_filebrowser_lists_and_downloads_the_store(client, store_app):
    _, view = store_app
    view.write("fb/a/1.png", _png("red"))
    view.write("fb/2.txt", b"two")
    root = client.get("/filebrowser/api/store/list").json()
    assert "fb" in [e["path"] for e in root["entries"] if e["is_dir"]]
    level = client.get("/filebrowser/api/store/list", params={"path": "fb"}).json()
    assert [(e["path"], e["is_dir"]) for e in level["entries"]] == [("fb/a", True), ("fb/2.txt", False)]
    assert level["entries"][1]["size"] == 3 and level["store"] == f"s3://{BUCKET}/{PREFIX}/fb"
    image = client.get("/filebrowser/api/store/list", params={"path": "fb/a"}).json()["entries"][0]
    assert image["is_image"] and image["size"] == len(_png("red"))
    download = client.get("/filebrowser/api/store/download", params={"path": "fb/a/1.png"})
    assert download.status_code == 200 and download.content == _png("red")
    assert download.headers["content-type"] == "image/png" and "attachment" in download.headers["content-disposition"]
    assert client.get("/filebrowser/api/store/download", params={"path": "fb/none.png"}).status_code == 404
    for bad in ("../x.png", "/etc/passwd", "fb/../../x"):
        assert client.get("/filebrowser/api/store/download", params={"path": bad}).status_code in (403, 422)
    for bad in ("..", "fb/../../x", "fb/./a"):
        assert client.get("/filebrowser/api/store/list", params={"path": bad}).status_code in (403, 422)
    # a leading "/" names the store's root, as in /list: "/etc" is a (missing) folder inside the store
    assert client.get("/filebrowser/api/store/list", params={"path": "/etc"}).json()["entries"] == []


def test_filebrowser_store_view_has_thumbnails_info_and_zips(client, store_app):
    import zipfile

    from modules.images import encode_image

    _, view = store_app
    blue = encode_image(Image.new("RGB", (96, 64), "blue"), infotext="a blue box\nSteps: 4, Seed: 7")
    view.write("fbz/a/blue.png", blue)
    view.write("fbz/a/note.txt", b"note")
    view.write("fbz/top.png", _png("green"))

    thumb = client.get("/filebrowser/api/store/thumbnail", params={"path": "fbz/a/blue.png", "size": 32})
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).size == (32, 21)
    info = client.get("/filebrowser/api/store/info", params={"path": "fbz/a/blue.png"}).json()
    assert info["size"] == len(blue) and info["image"]["width"] == 96
    assert info["image"]["infotext"].startswith("a blue box") and info["etag"]
    assert client.get("/filebrowser/api/store/thumbnail", params={"path": "fbz/a/note.txt"}).status_code == 422

    def members(response: httpx.Response) -> dict[str, bytes]:
        assert response.status_code == 200, response.text
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}

    selection = client.get("/filebrowser/api/store/download-zip", params={"path": ["fbz/a/note.txt", "fbz/top.png"]})
    assert members(selection) == {"note.txt": b"note", "top.png": _png("green")}
    folder = client.get("/filebrowser/api/store/download", params={"path": "fbz"})
    assert members(folder) == {"a/blue.png": blue, "a/note.txt": b"note", "top.png": _png("green")}
    assert client.get("/filebrowser/api/store/download-zip", params={"path": ["../x"]}).status_code in (403, 422)


class _GatedStore:
    """The store, with reads held until `release` is set (to watch a download in its `loading` state)."""

    def __init__(self, inner):
        self.inner, self.release = inner, threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def open_stream(self, key):
        assert self.release.wait(60)
        return self.inner.open_stream(key)


def test_models_registered_from_the_store(client, store_app):
    from modules.storage.references import ReferenceReader

    server, view = store_app
    tmp_path = server.models
    view.write_file("models/tiny-s.safetensors", tmp_path / "a.safetensors")
    reference = f"s3://{BUCKET}/{PREFIX}/models/tiny-s.safetensors"
    body = {"type": "stableDiffusion", "name": "from-store", "ossPath": reference}

    catalog = server.services.catalog
    gated = _GatedStore(view)
    catalog.references, original = ReferenceReader(gated), catalog.references
    try:
        posted: list = []
        worker = threading.Thread(target=lambda: posted.append(client.post("/models", json=body)))
        worker.start()
        wait_for(lambda: client.get("/models/from-store").status_code == 200)
        assert client.get("/models/from-store").json()["status"] == "loading"
        assert client.post("/models", json=body).status_code == 409  # a second registration waits its turn
        gated.release.set()
        worker.join(60)
    finally:
        catalog.references = original
    assert posted[0].status_code == 200 and posted[0].json()["message"] == "register success", posted[0].text
    model = client.get("/models/from-store").json()
    assert model["status"] == "unloaded" and model["etag"] == view.stat("models/tiny-s.safetensors").etag
    assert (server.data_dir / model["localPath"]).read_bytes() == (tmp_path / "a.safetensors").read_bytes()
    assert client.post("/models", json=body).json()["message"] == "models existed"  # same ETag: a no-op

    answer = client.post("/txt2img", json={**SLS, "stable_diffusion_model": "from-store"})
    assert answer.status_code == 200 and answer.json()["status"] == "succeeded", answer.text

    # the object changes: its new ETag downloads it again
    view.write_file("models/tiny-s.safetensors", tmp_path / "b.safetensors")
    again = client.post("/models", json=body)
    assert again.json()["message"] == "register success"
    changed = client.get("/models/from-store").json()
    assert changed["etag"] != model["etag"] and changed["sha256"] != model["sha256"]
    assert (server.data_dir / changed["localPath"]).read_bytes() == (tmp_path / "b.safetensors").read_bytes()

    # a wrong expected sha256: 422 naming it, the model is recorded as failed
    wrong = client.put("/models/from-store", json={"ossPath": reference, "sha256": "0" * 64})
    assert wrong.status_code == 422 and "sha256" in wrong.text
    failed = client.get("/models/from-store").json()
    assert failed["status"] == "failed" and "sha256" in failed["error"]
    outside = client.post("/models", json={**body, "name": "outside", "ossPath": f"s3://{BUCKET}/elsewhere/m.safetensors"})
    assert outside.status_code == 403 and "ossPath" in outside.text
    missing = client.post("/models", json={**body, "name": "missing", "ossPath": reference.replace("tiny-s", "none")})
    assert missing.status_code == 404
