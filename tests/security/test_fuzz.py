"""Hostile and careless bodies for txt2img, img2img and options (hypothesis, bounded examples): never a 5xx, and
the next request still works. Generations that pass validation are kept tiny (64 px, 1-2 steps) by the strategies.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.support import EaselServer, make_data_dir, png_b64

SMALL = {"prompt": "a", "steps": 1, "width": 64, "height": 64}
IMAGE = png_b64(Image.new("RGB", (64, 64), "green"))
HOSTILE_TEXT = ["", "a \ud800 b", "\udfff", "x" * 30_000, "a BREAK " * 300, " AND ".join("p" * 3 for _ in range(30)),
                "../../etc/passwd", "\x00", "[a|b]" * 50, "(((((a:1e308)))))", "<lora:nope:1e9>", "🎨" * 10]
HOSTILE_NUMBERS = [float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 2**64, -(2**70), 10**30, -1, 0, 0.5,
                   1e-320]
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)


NO_NUMBERS = st.recursive(st.none() | st.booleans() | st.text(max_size=12),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                      max_size=3), max_leaves=8)


def anything(*valid) -> st.SearchStrategy:
    return st.one_of(st.sampled_from(list(valid)), st.sampled_from(HOSTILE_NUMBERS + HOSTILE_TEXT), JSON)


def costly(*valid) -> st.SearchStrategy:
    """For fields whose valid values cost time (steps, sizes, counts): random numbers could be valid and slow, so
    the random part holds no numbers; the hostile numbers are all invalid for these fields."""
    return st.one_of(st.sampled_from(list(valid)), st.sampled_from(HOSTILE_NUMBERS + HOSTILE_TEXT), NO_NUMBERS)


FIELDS = {
    "prompt": anything("a cat", "a|b", "[a:b:0.5]"),
    "negative_prompt": anything("blurry"),
    "styles": anything([], ["none-such"]),
    "seed": anything(-1, 5, 4294967295),
    "subseed": anything(-1, 3),
    "subseed_strength": anything(0, 0.5, 1),
    "seed_resize_from_h": costly(-1, 0, 64),
    "seed_resize_from_w": costly(-1, 0, 64),
    "sampler_name": anything("Euler", "DPM++ 2M", "nope"),
    "scheduler": anything("Karras", "nope"),
    "batch_size": costly(1, 2),
    "n_iter": costly(1),
    "steps": costly(1, 2),
    "cfg_scale": anything(1, 7.5),
    "width": costly(64),
    "height": costly(64),
    "restore_faces": anything(True, False),
    "tiling": anything(True, False),
    "eta": anything(0, 1),
    "denoising_strength": anything(0.5),
    "override_settings": anything({}, {"CLIP_stop_at_last_layers": 2}, {"outdir_samples": "/tmp"},
                                  {"samples_format": "jpg"}, {"eta_ddim": float("nan")}),
    "override_settings_restore_afterwards": anything(True),
    "script_name": anything("prompt matrix", "x/y/z plot", "nope"),
    "script_args": anything([], [False, False, "positive", "comma", 0]),
    "alwayson_scripts": anything({}, {"save_dir": "../x"}, {"id_task": ".."}, {"nope": {"args": []}}),
    "enable_hr": anything(False, True),
    "hr_scale": costly(1, 1.5),
    "hr_second_pass_steps": costly(0, 1),
    "init_images": anything([IMAGE], ["not base64"], [IMAGE[:100]]),
    "mask": anything(None, IMAGE),
    "resize_mode": anything(0, 3),
    "mask_blur": anything(0, 4),
}
BODIES = st.fixed_dictionaries({}, optional=FIELDS).map(lambda extra: {**SMALL, **extra})
OPTION_KEYS = ["CLIP_stop_at_last_layers", "jpeg_quality", "samples_format", "outdir_samples", "s_noise", "eta_ddim",
               "n_rows", "quicksettings_list", "sd_vae", "api_forbid_local_requests", "emphasis", "nope",
               "img2img_background_color", "show_progress_every_n_steps", "eta_noise_seed_delta"]
OPTIONS = st.dictionaries(st.sampled_from(OPTION_KEYS), anything(1, 2, "png", "", "Automatic", True), max_size=3)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    server = EaselServer(make_data_dir(tmp_path_factory.mktemp("fuzz")), env={"OMP_NUM_THREADS": "1"}).start(
        timeout=240)
    try:
        yield server
    finally:
        server.stop()


def _send(client, path: str, body) -> int:
    response = client.post(path, content=json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass"),
                           headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (path, body if len(json.dumps(body)) < 2000 else "(long body)",
                                        response.text[:500])
    return response.status_code


def _still_works(client) -> None:
    assert client.post("/sdapi/v1/txt2img", json=SMALL).status_code == 200


FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@pytest.mark.parametrize("path", ["/sdapi/v1/txt2img", "/sdapi/v1/img2img"])
def test_generation_bodies(fuzz_server, path):
    with fuzz_server.client() as client:
        @FUZZ
        @given(body=BODIES)
        def check(body):
            _send(client, path, body)

        check()
        _still_works(client)


def test_options_bodies(fuzz_server):
    with fuzz_server.client() as client:
        @FUZZ
        @given(body=OPTIONS)
        def check(body):
            if _send(client, "/sdapi/v1/options", body) == 200:
                _still_works(client)

        check()
        _still_works(client)
