"""`--models-url s3://...` (moto_server, signatures checked), in process: the store's checkpoints and VAEs are
listed beside the local ones (a local file of the same name wins), downloaded on first use into the model cache,
reused while their ETag is unchanged, and the least recently used one is evicted when `--model-cache-gb` is
exceeded; LoRAs are mirrored at listing time, outside that budget."""
from __future__ import annotations

import pytest

from tests.inprocess import InProcessServer
from tests.networks.builders import write_lora
from tests.storage.conftest import BUCKET, s3_storage
from tests.support import make_data_dir
from tests.tasks.helpers import SMALL

PREFIX = "models-url"


@pytest.fixture(scope="module")
def remote_app(tmp_path_factory, moto_s3):
    from modules.model_registry.tiny import write_tiny_checkpoint

    view = s3_storage(moto_s3, PREFIX)
    files = tmp_path_factory.mktemp("remote-files")
    for name, seed in (("remote-a", 11), ("remote-b", 12), ("tiny-a", 13)):
        write_tiny_checkpoint(files / f"{name}.safetensors", family="sd1", seed=seed)
        view.write_file(f"Stable-diffusion/{name}.safetensors", files / f"{name}.safetensors")
    view.write("VAE/remote.vae.safetensors", b"not really a vae")
    write_lora(files / "remote-lora.safetensors", 21, metadata={"ss_output_name": "remote_alias"})
    view.write_file("Lora/remote-lora.safetensors", files / "remote-lora.safetensors")
    view.write_file("Lora/gone-lora.safetensors", files / "remote-lora.safetensors")
    size = (files / "remote-a.safetensors").stat().st_size
    env = {"AWS_ACCESS_KEY_ID": moto_s3.access_key, "AWS_SECRET_ACCESS_KEY": moto_s3.secret_key,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        data_dir = make_data_dir(tmp_path_factory.mktemp("models-url"))
        budget_gb = str(1.5 * size / (1 << 30))  # room for one remote checkpoint, not two
        server = InProcessServer(data_dir, "--models-url", f"s3://{BUCKET}/{PREFIX}", "--s3-endpoint-url",
                                 moto_s3.endpoint, "--model-cache-gb", budget_gb, "--ckpt", "tiny-a").start()
        try:
            yield server
        finally:
            server.stop()


def test_store_models_are_listed_fetched_on_use_and_evicted(remote_app):
    server = remote_app
    cache = server.data_dir / "cache" / "remote-models" / "Stable-diffusion"
    with server.client() as client:
        listed = {m["model_name"]: m for m in client.get("/sdapi/v1/sd-models").json()}
        assert {"remote-a", "remote-b", "tiny-a"} <= set(listed)
        assert listed["remote-a"]["filename"] == str(cache / "remote-a.safetensors")
        assert "remote-models" not in listed["tiny-a"]["filename"]  # the local file of that name wins
        assert not (cache / "remote-a.safetensors").exists()  # nothing downloaded before use

        for name in ("remote-a", "remote-b"):
            body = {**SMALL, "override_settings": {"sd_model_checkpoint": name}}
            answer = client.post("/sdapi/v1/txt2img", json=body)
            assert answer.status_code == 200, answer.text
            assert f"Model: {name}" in answer.json()["info"]
        # the cache holds one remote checkpoint: remote-a (least recently used) went out
        assert (cache / "remote-b.safetensors").is_file() and not (cache / "remote-a.safetensors").exists()

        info = server.services.checkpoints.get("remote-b")
        inode = (cache / "remote-b.safetensors").stat().st_ino
        assert info.fetch() == cache / "remote-b.safetensors"
        assert (cache / "remote-b.safetensors").stat().st_ino == inode  # unchanged ETag: reused, not downloaded

        vaes = client.get("/sdapi/v1/sd-vae").json()
        remote_vae = next(v for v in vaes if v["model_name"] == "remote.vae.safetensors")
        assert server.services.vaes.local_file(remote_vae["filename"]).read_bytes() == b"not really a vae"


def test_store_loras_are_mirrored_listed_and_applied(remote_app):
    server = remote_app
    cache = server.data_dir / "cache" / "remote-models" / "Lora"
    with server.client() as client:
        loras = {entry["name"]: entry for entry in client.get("/sdapi/v1/loras").json()}
        assert {"remote-lora", "gone-lora"} <= set(loras) and loras["remote-lora"]["alias"] == "remote_alias"
        assert loras["remote-lora"]["path"] == str(cache / "remote-lora.safetensors")

        plain = client.post("/sdapi/v1/txt2img", json=SMALL).json()
        with_lora = client.post("/sdapi/v1/txt2img", json={**SMALL, "prompt": SMALL["prompt"] + " <lora:remote-lora:1>"})
        assert with_lora.status_code == 200, with_lora.text
        assert "Lora hashes" in with_lora.json()["info"] and with_lora.json()["images"][0] != plain["images"][0]

        inode = (cache / "remote-lora.safetensors").stat().st_ino
        server.services.checkpoints.remote.store.delete("Lora/gone-lora.safetensors")
        assert client.post("/sdapi/v1/refresh-loras").status_code == 200
        names = {entry["name"] for entry in client.get("/sdapi/v1/loras").json()}
        assert "remote-lora" in names and "gone-lora" not in names  # removed from the store: gone from the list
        assert not (cache / "gone-lora.safetensors").exists()
        assert (cache / "remote-lora.safetensors").stat().st_ino == inode  # unchanged ETag: not copied again
