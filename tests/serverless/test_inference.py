"""POST /txt2img, /img2img, /extra_images and the /tasks/{taskId}/... routes of the serverless API."""
from __future__ import annotations

from PIL import Image

from tests.support import png_b64
from tests.tasks.helpers import ASYNC, LONG, wait_for

BODY = {"stable_diffusion_model": "tiny-b", "prompt": "a hill", "steps": 2, "width": 64, "height": 64, "seed": 3,
        "eta": 0.5, "s_noise": 1.0, "hr_scale": 1.5}  # floats where the spec says integer


def _result(client, task_id: str) -> dict:
    return wait_for(lambda: (r := client.get(f"/tasks/{task_id}/result").json())["status"]
                    in ("succeeded", "failed", "cancelled") and r)


def test_txt2img_sync_then_result_progress_and_img2img_from_a_stored_path(client, sls_server):
    response = client.post("/txt2img", json=BODY)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "succeeded" and len(answer["ossUrl"]) == 1
    assert response.headers["taskid"] == answer["taskId"]
    assert client.get(answer["ossUrl"][0]).content.startswith(b"\x89PNG")
    result = client.get(f"/tasks/{answer['taskId']}/result").json()
    assert result["status"] == "succeeded" and result["images"][0].startswith("outputs/tasks/")
    assert result["parameters"]["prompt"] == "a hill" and result["info"]["all_seeds"] == [3]
    assert "tiny-b" in result["info"]["sd_model_name"]
    progress = client.get(f"/tasks/{answer['taskId']}/progress").json()
    assert progress["progress"] == 1.0 and set(progress) >= {"taskId", "progress", "etaRelative", "state",
                                                             "currentImage"}
    # img2img from the stored result path, async
    body = {"stable_diffusion_model": "tiny-a", "init_images": [result["images"][0]], "prompt": "x", "steps": 2,
            "width": 64, "height": 64, "denoising_strength": 0.5}
    submitted = client.post("/img2img", json=body, headers=ASYNC).json()
    assert submitted["status"] in ("waiting", "running") and submitted["taskId"]
    done = _result(client, submitted["taskId"])
    assert done["status"] == "succeeded" and done["ossUrl"]
    # base64 input works too; paths outside the data dir are refused
    b64 = {**body, "init_images": [png_b64(Image.new("RGB", (64, 64), "red"))]}
    assert client.post("/img2img", json=b64).json()["status"] == "succeeded"
    outside = client.post("/img2img", json={**body, "init_images": ["../../../etc/hosts.png"]})
    assert outside.status_code == 403 and outside.json()["code"] == 403


def test_errors_use_the_spec_error_shape(client):
    missing = client.post("/txt2img", json={"prompt": "x"})
    assert missing.status_code == 422 and missing.json()["code"] == 422
    assert "stable_diffusion_model" in missing.json()["message"]
    unknown = client.post("/txt2img", json={**BODY, "stable_diffusion_model": "nope"})
    assert unknown.status_code == 404 and "nope" in unknown.json()["message"]
    bad_vae = client.post("/txt2img", json={**BODY, "sd_vae": "missing.safetensors"})
    assert bad_vae.status_code == 404
    assert client.get("/tasks/unknown/result").status_code == 404
    assert client.get("/tasks/unknown/progress").json()["code"] == 404


def test_extra_images_from_a_stored_path(client, sls_server):
    folder = sls_server.data_dir / "inputs"
    folder.mkdir(exist_ok=True)
    Image.new("RGB", (16, 16), "blue").save(folder / "small.png")
    answer = client.post("/extra_images", json={"upscaler_1": "Lanczos", "upscaling_resize": 2,
                                               "image": "inputs/small.png"}).json()
    assert answer["status"] == "succeeded", answer
    image = Image.open(__import__("io").BytesIO(client.get(answer["ossUrl"][0]).content))
    assert image.size == (32, 32)


def test_cancellation_of_waiting_and_running_tasks(client):
    running = client.post("/txt2img", json={**BODY, **LONG, "stable_diffusion_model": "tiny-a"}, headers=ASYNC)
    waiting = client.post("/txt2img", json=BODY, headers=ASYNC)
    running_id, waiting_id = running.json()["taskId"], waiting.json()["taskId"]
    wait_for(lambda: client.get(f"/tasks/{running_id}/progress").json()["state"]["sampling_step"] >= 1)
    cancelled = client.post(f"/tasks/{waiting_id}/cancellation").json()
    assert cancelled["message"] == "success" and cancelled["status"] == "cancelled"
    assert client.post(f"/tasks/{running_id}/cancellation").json()["message"] == "success"
    assert _result(client, running_id)["status"] == "cancelled"
    assert client.get(f"/tasks/{waiting_id}/result").json()["status"] == "cancelled"
