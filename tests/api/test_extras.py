"""Extras (upscaling) through the queue: single, batch and async."""
from __future__ import annotations

import time

from PIL import Image

from tests.support import decode_b64_image, png_b64

SOURCE = png_b64(Image.new("RGB", (40, 32), (200, 40, 40)))


def test_single_image_scaled_by_factor(api):
    response = api.post("/sdapi/v1/extra-single-image", json={"image": SOURCE, "upscaler_1": "Lanczos",
                                                               "upscaling_resize": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert decode_b64_image(body["image"]).size == (80, 64)
    assert body["html_info"] == "<p>Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos</p>"
    assert response.headers["x-task-id"]


def test_batch_resize_to_size_with_crop(api):
    response = api.post("/sdapi/v1/extra-batch-images", json={
        "imageList": [{"data": SOURCE, "name": "a.png"}, {"data": SOURCE, "name": "b.png"}],
        "resize_mode": 1, "upscaling_resize_w": 64, "upscaling_resize_h": 64, "upscaler_1": "Nearest"})
    assert response.status_code == 200, response.text
    images = response.json()["images"]
    assert [decode_b64_image(i).size for i in images] == [(64, 64), (64, 64)]


def test_async_extras_is_a_task(api):
    response = api.post("/sdapi/v1/extra-single-image", json={"image": SOURCE, "upscaler_1": "Lanczos"},
                        headers={"Request-Type": "async"})
    assert response.status_code == 200
    task_id = response.json()["task_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = api.get(f"/sdapi/v1/tasks/{task_id}").json()
        if record["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert record["status"] == "succeeded"


def test_unknown_upscaler_names_the_field(api):
    response = api.post("/sdapi/v1/extra-single-image", json={"image": SOURCE, "upscaler_1": "Bogus"})
    assert response.status_code == 422 and "upscaler_1" in response.json()["detail"]
