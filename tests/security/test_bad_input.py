"""Issue 18 items 7-8: what used to answer 500 is a 4xx naming the field; NaN and infinities are refused."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.security.conftest import SMALL, error_text, raw_json
from tests.support import png_b64

IMAGE = png_b64(Image.new("RGB", (64, 64), "blue"))


def _ok(api) -> None:
    """The next request still works."""
    assert api.post("/sdapi/v1/txt2img", json=SMALL).status_code == 200


@pytest.mark.parametrize("path", ["/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/sdapi/v1/options", "/txt2img"])
def test_deeply_nested_json(api, path):
    for depth in (100, 100_000):
        response = raw_json(api, path, '{"prompt": ' + "[" * depth + "]" * depth + "}")
        assert 400 <= response.status_code < 500, (depth, response.status_code)
        assert "nested" in error_text(response)
    managed = raw_json(api, path, '{"alwayson_scripts": {"save_dir": "x"}, "prompt": ' + "[" * 100_000 + "]" * 100_000
                       + "}")
    assert 400 <= managed.status_code < 500
    _ok(api)


@pytest.mark.parametrize("field,value", [("seed", 2**64), ("seed", -(2**70)), ("subseed", 2**64 + 5),
                                         ("seed", 10**40), ("seed_resize_from_h", 40_000),
                                         ("seed_resize_from_w", 10**20)])
def test_seeds_beyond_64_bits_and_huge_seed_resize(api, field, value):
    for path, extra in (("/sdapi/v1/txt2img", {}), ("/txt2img", {"stable_diffusion_model": "tiny-a"})):
        response = api.post(path, json={**SMALL, **extra, field: value})
        assert response.status_code == 422, (path, response.text)
        assert field in error_text(response)
    _ok(api)


@pytest.mark.parametrize("text", ['"upscaling_resize": 1e308', '"upscaling_resize": Infinity',
                                  '"upscaling_resize": -Infinity', '"upscaling_resize": NaN',
                                  '"upscaling_resize": 1e999'])
def test_extras_overflowing_scale(api, text):
    response = raw_json(api, "/sdapi/v1/extra-single-image",
                        '{"image": "' + IMAGE + '", "upscaler_1": "Lanczos", ' + text + "}")
    assert response.status_code == 422, response.text
    assert "upscaling_resize" in error_text(response)


@pytest.mark.parametrize("body", ['{"prompt": "a \\ud800", "steps": 2, "width": 64, "height": 64}',
                                  '{"prompt": "a", "styles": ["\\udfff"], "steps": 2, "width": 64, "height": 64}',
                                  '{"prompt": "a", "negative_prompt": "x\\udc00y", "steps": 2}',
                                  '{"prompt": "a", "override_settings": {"\\ud800": 1}}'])
def test_lone_surrogates(api, body):
    for path in ("/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/txt2img"):
        response = raw_json(api, path, body)
        assert response.status_code == 422, (path, response.text)
        field = next(name for name in ("prompt", "styles", "negative_prompt", "override_settings") if name in body
                     and name in error_text(response))
        assert field
    _ok(api)


def test_filebrowser_path_of_300_characters(api):
    for route in ("/filebrowser/api/list", "/filebrowser/api/info", "/filebrowser/api/download"):
        response = api.get(route, params={"path": "x" * 300})
        assert response.status_code == 422, response.text
        assert "path" in error_text(response)
    mkdir = api.post("/filebrowser/api/mkdir", json={"path": "outputs/" + "y" * 300})
    assert mkdir.status_code == 422 and "path" in error_text(mkdir)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "1.5", '"2"', "true", "99"])
def test_option_values_are_checked_by_type_and_range(api, secure_server, literal):
    before = api.get("/sdapi/v1/options").json()["CLIP_stop_at_last_layers"]
    response = raw_json(api, "/sdapi/v1/options", '{"CLIP_stop_at_last_layers": ' + literal + "}")
    assert response.status_code == 422, (literal, response.text)
    assert "CLIP_stop_at_last_layers" in error_text(response)
    assert api.get("/sdapi/v1/options").json()["CLIP_stop_at_last_layers"] == before
    config = secure_server.data_dir / "config.json"
    if config.exists():
        assert "NaN" not in config.read_text() and "Infinity" not in config.read_text()
        json.loads(config.read_text(), parse_constant=lambda c: pytest.fail(f"config.json holds {c}"))


@pytest.mark.parametrize("text", ['{"prompt": "a", "cfg_scale": NaN}', '{"prompt": "a", "denoising_strength": Infinity}',
                                  '{"prompt": "a", "override_settings": {"s_noise": NaN}}',
                                  '{"prompt": "a", "script_args": [NaN]}', '{"prompt": "a", "subseed_strength": -Infinity}'])
def test_non_finite_numbers_anywhere_in_a_body(api, text):
    for path in ("/sdapi/v1/txt2img", "/txt2img", "/sdapi/v1/options"):
        response = raw_json(api, path, text)
        assert response.status_code == 422, (path, response.text)
        assert "NaN" in error_text(response) or "Infinity" in error_text(response)
