"""Bad input gets a clear 4xx naming the field, in the A1111 error shape, and the server keeps serving."""
from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

SMALL = {"prompt": "x", "steps": 2, "width": 64, "height": 64, "seed": 1}


def assert_error(response, status: int, mentions: str):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "body", "errors"}
    assert mentions in str(body["detail"]) + body["errors"]


def still_serves(api):
    assert api.post("/sdapi/v1/txt2img", json=SMALL).status_code == 200


def test_malformed_json(api):
    response = api.post("/sdapi/v1/txt2img", content=b'{"prompt": "x", ', headers={"content-type": "application/json"})
    assert_error(response, 422, "JSON")
    still_serves(api)


def test_wrong_type_names_the_field(api):
    assert_error(api.post("/sdapi/v1/txt2img", json={**SMALL, "steps": "many"}), 422, "steps")


@pytest.mark.parametrize("field, value", [("width", 100000), ("height", 4), ("steps", 0), ("steps", 151),
                                          ("batch_size", 1000), ("cfg_scale", -1), ("subseed_strength", 2)])
def test_out_of_range_values_name_the_field(api, field, value):
    assert_error(api.post("/sdapi/v1/txt2img", json={**SMALL, field: value}), 422, field)
    still_serves(api)


def test_broken_base64_names_the_image_field(api):
    response = api.post("/sdapi/v1/img2img", json={**SMALL, "init_images": ["not base64 at all!!"]})
    assert_error(response, 422, "init_images[0]")
    response = api.post("/sdapi/v1/img2img", json={**SMALL, "init_images": [base64.b64encode(b"plain text").decode()]})
    assert_error(response, 422, "init_images[0]")
    still_serves(api)


def test_decompression_bomb_is_refused(api):
    bomb = Image.new("1", (20000, 20000))
    buffer = io.BytesIO()
    bomb.save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode()
    assert len(data) < 200_000
    assert_error(api.post("/sdapi/v1/img2img", json={**SMALL, "init_images": [data]}), 422, "init_images[0]")
    assert_error(api.post("/sdapi/v1/png-info", json={"image": data}), 422, "image")
    still_serves(api)


def test_unknown_override_setting_is_422(api):
    assert_error(api.post("/sdapi/v1/txt2img", json={**SMALL, "override_settings": {"no_such_option": 1}}),
                 422, "no_such_option")


def test_unknown_checkpoint_override_lists_choices(api):
    response = api.post("/sdapi/v1/txt2img", json={**SMALL, "override_settings": {"sd_model_checkpoint": "tiny-x"}})
    assert response.status_code == 404
    assert "tiny-a" in response.json()["detail"]
    still_serves(api)
