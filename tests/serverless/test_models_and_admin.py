"""/models registration (stored path and upload), /options, /restart and the function-management routes."""
from __future__ import annotations

import shutil

from tests.tasks.helpers import wait_for


def _titles(client) -> list[str]:
    return [m["title"] for m in client.get("/sdapi/v1/sd-models").json()]


def test_register_update_and_delete_models(client, sls_server):
    store = sls_server.data_dir / "uploads"
    store.mkdir(exist_ok=True)
    shutil.copy(sls_server.data_dir / "models/Stable-diffusion/tiny-a.safetensors", store / "mine.safetensors")
    created = client.post("/models", json={"type": "stableDiffusion", "name": "registered",
                                           "ossPath": "uploads/mine.safetensors", "etag": "x", "status": "x"})
    assert created.status_code == 200, created.text
    model = created.json()["model"]
    assert model["status"] == "unloaded" and len(model["etag"]) == 64 and model["registeredTime"].endswith("Z")
    assert any(t.startswith("registered.safetensors") for t in _titles(client))  # the registry sees it at once
    assert client.post("/models", json={"type": "stableDiffusion", "name": "registered",
                                        "ossPath": "uploads/mine.safetensors"}).json()["message"] == "models existed"
    assert client.post("/models", json={"type": "stableDiffusion", "name": "registered",
                                        "ossPath": "models/Stable-diffusion/tiny-b.safetensors"}).status_code == 409
    fetched = client.get("/models/registered").json()
    assert fetched["ossPath"] == "uploads/mine.safetensors"
    assert any(m["name"] == "registered" for m in client.get("/models").json())
    # it generates
    answer = client.post("/txt2img", json={"stable_diffusion_model": "registered", "prompt": "x", "steps": 1,
                                           "width": 64, "height": 64}).json()
    assert answer["status"] == "succeeded"
    assert client.get("/models/registered").json()["status"] == "loaded"
    # update from an upload: new etag
    data = (sls_server.data_dir / "models/Stable-diffusion/tiny-b.safetensors").read_bytes()
    updated = client.put("/models/registered", data={"type": "stableDiffusion"},
                         files={"file": ("other.safetensors", data, "application/octet-stream")})
    assert updated.status_code == 200, updated.text
    assert updated.json()["model"]["etag"] != model["etag"]
    # refused inputs
    assert client.post("/models", json={"type": "stableDiffusion", "name": "evil",
                                        "ossPath": "../../etc/passwd"}).status_code == 403
    assert client.post("/models", json={"type": "weird", "name": "w", "ossPath": "uploads/mine.safetensors"}) \
        .status_code == 422
    assert client.put("/models/never", json={"ossPath": "uploads/mine.safetensors"}).status_code == 404
    # delete: gone from the registry
    assert client.delete("/models/registered").json()["message"] == "delete success"
    assert not any(t.startswith("registered.safetensors") for t in _titles(client))
    assert client.get("/models/registered").status_code == 404
    assert client.delete("/models/registered").status_code == 404


def test_options_restart_and_functions(client):
    assert client.post("/options", json={"data": {"jpeg_quality": 81}}).json() == {"message": "success"}
    assert client.get("/sdapi/v1/options").json()["jpeg_quality"] == 81
    assert client.post("/options", json={"data": {"no_such_option_xyz": 1}}).status_code >= 400
    functions = client.get("/list/sdapi/functions").json()
    assert functions["status"] == "success" and functions["functions"][0]["functionName"] == "easel-worker-0"
    updated = client.post("/batch_update_sd_resource", json={"timeout": 300, "queueSize": 6, "cpu": 8}).json()
    assert updated["status"] == "success" and "cpu" in updated["errMsg"]
    worker = client.get("/list/sdapi/functions").json()["functions"][0]
    assert worker["timeout"] == 300 and worker["queueSize"] == 6
    client.post("/batch_update_sd_resource", json={"timeout": 0, "queueSize": 4})
    deleted = client.post("/del/sd/functions", json={"functions": ["easel-worker-0", "ghost"]}).json()
    assert deleted["status"] == "fail" and deleted["fails"][0]["functionName"] == "ghost"
    wait_for(lambda: client.get("/list/sdapi/functions").json()["functions"][0]["model"] is None)
    assert client.post("/restart").json() == {"message": "success"}
    assert client.post("/txt2img", json={"stable_diffusion_model": "tiny-a", "prompt": "x", "steps": 1,
                                         "width": 64, "height": 64}).json()["status"] == "succeeded"
