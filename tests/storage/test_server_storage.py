"""A real Easel server on S3 (moto_server, signatures checked) and on OSS (the protocol fake, signatures
checked): results go to the store and their links serve the PNG, an image_link naming an object in the store
is read through it (one outside its prefix is refused), retention turns the links into 410 Gone,
and a store that stops gives a clear 503 and a failed task with the storage error recorded."""
from __future__ import annotations

import httpx
import pytest

from modules.tasks.signing import LinkSigner
from tests.storage.conftest import BUCKET, OSS_KEY, OSS_SECRET, oss_storage, s3_storage
from tests.storage.s3_server import PresignGate
from tests.support import EaselServer, make_data_dir, wait_for
from tests.tasks.helpers import SMALL, submit_async, wait_status

RETENTION_DAYS = "0.00012"  # about 10 s: long enough to fetch the link first
LINK_SECRET = "e2e-link-secret"


@pytest.mark.parametrize("backend", ["s3", "oss"])
def test_results_in_object_storage(backend, tmp_path, moto_factory, fake_oss_factory):
    gate = None
    if backend == "s3":
        store_server = moto_factory()
        gate = PresignGate(store_server)  # verifies the presigned URLs' SigV4 signatures, serves from moto
        flags = ["--storage-url", f"s3://{BUCKET}/e2e", "--s3-endpoint-url", store_server.endpoint,
                 "--s3-public-endpoint-url", gate.endpoint]
        env = {"AWS_ACCESS_KEY_ID": store_server.access_key, "AWS_SECRET_ACCESS_KEY": store_server.secret_key,
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
               "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
        view = s3_storage(store_server, "e2e")
    else:
        store_server = fake_oss_factory()
        flags = ["--storage-url", f"oss://{BUCKET}/e2e", "--oss-endpoint", store_server.endpoint,
                 "--oss-region", store_server.region]
        env = {"OSS_ACCESS_KEY_ID": OSS_KEY, "OSS_ACCESS_KEY_SECRET": OSS_SECRET}
        view = oss_storage(store_server, "e2e", tmp=tmp_path)
    data_dir = make_data_dir(tmp_path / "data")
    server = EaselServer(data_dir, *flags, "--link-secret", LINK_SECRET, "--outputs-retention-days", RETENTION_DAYS,
                         "--retention-interval", "0.5",
                         "--storage-retries", "2", "--storage-timeout", "3", env=env).start()
    try:
        with server.client() as client:
            task_id = submit_async(client, SMALL)
            record = wait_status(client, task_id, "succeeded")
            assert record["images"] == [f"tasks/{task_id}/00000.png"]
            assert [i.key for i in view.list("tasks")] == record["images"]
            assert not (data_dir / "outputs" / "tasks" / task_id).exists()
            # the task's url is the store's own signed URL (V4 for OSS here, SigV4 presigned for S3)
            url = record["urls"][0]
            assert url.startswith((gate or store_server).endpoint) and ("Signature" in url or "signature" in url)
            link = httpx.get(url, timeout=10)
            assert link.status_code == 200 and link.content[:8] == b"\x89PNG\r\n\x1a\n"
            assert link.headers["content-type"] == "image/png"
            tampered = httpx.get(url.replace("00000.png", "00001.png"), timeout=10)
            assert tampered.status_code == 403
            easel_link = LinkSigner(LINK_SECRET.encode()).sign(record["images"][0])
            assert client.get(easel_link).status_code == 200

            # after the retention period: the store answers 404 for its URL, Easel's own link 410 Gone
            wait_for(lambda: client.get(easel_link).status_code == 410, timeout=120, interval=0.5)
            assert httpx.get(url, timeout=10).status_code == 404
            purged = client.get(f"/sdapi/v1/tasks/{task_id}").json()
            assert purged["status"] == "succeeded" and purged["outputs_purged_at"]
            assert purged["images"] == [] and purged["parameters"]["prompt"] == SMALL["prompt"]
            assert list(view.list("tasks")) == []

            # a managed-service image_link that names an object in the store is read through the store
            view.write("inputs/e2e/init.png", link.content)
            img2img = {**SMALL, "init_images": [], "alwayson_scripts": {"image_link": view.reference("inputs/e2e/init.png")}}
            answer = client.post("/sdapi/v1/img2img", json=img2img)
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["images"]) == 1
            # so is an init image given as the store's reference (A1111 init_images, Easel's extension)
            by_reference = {**SMALL, "init_images": [view.reference("inputs/e2e/init.png")], "denoising_strength": 0.5}
            answer = client.post("/sdapi/v1/img2img", json=by_reference)
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["images"]) == 1
            outside = {**img2img, "alwayson_scripts": {"image_link": f"{backend}://{BUCKET}/elsewhere/init.png"}}
            refused = client.post("/sdapi/v1/img2img", json=outside)
            assert refused.status_code == 403 and "outside the configured storage" in refused.text

            store_server.stop()
            sync = client.post("/sdapi/v1/txt2img", json=SMALL)
            assert sync.status_code == 503, sync.text
            assert "is unavailable" in sync.json()["detail"] and sync.headers["retry-after"]
            failed_id = submit_async(client, SMALL)
            failed = wait_status(client, failed_id, "failed", "succeeded")
            assert failed["status"] == "failed" and "is unavailable" in failed["error"]
            assert client.get("/sdapi/v1/tasks", params={"limit": 10}).status_code == 200
    finally:
        server.stop()
        if gate is not None:
            gate.stop()
    log = server.log()
    for secret in (env.get("AWS_SECRET_ACCESS_KEY"), env.get("OSS_ACCESS_KEY_SECRET")):
        assert not secret or secret not in log
    assert "retention: purged 1 task records" in log
