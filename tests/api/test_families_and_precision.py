"""SD2 (v-prediction) and SDXL checkpoints generate through the API; --precision bf16 runs the UNet in bfloat16."""
from __future__ import annotations

import argparse
import json

import pytest
import torch

from modules.cmd_args import build_parser
from modules.engine.devices import choose_precision
from tests.support import EaselServer, decode_b64_image, make_data_dir

SMALL = {"prompt": "a red house", "negative_prompt": "blurry", "steps": 4, "width": 64, "height": 64, "seed": 9}


@pytest.fixture(scope="module")
def family_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    make_data_dir(root, {"xl-tiny.safetensors": 0}, family="sdxl")
    make_data_dir(root, {"sd2-tiny.safetensors": 0}, family="sd2")
    make_data_dir(root, {"sd1-tiny.safetensors": 0}, family="sd1")
    server = EaselServer(root, "--ckpt", "sd1-tiny").start()
    yield server
    server.stop()


@pytest.mark.parametrize("checkpoint", ["xl-tiny", "sd2-tiny"])
def test_sd2_and_sdxl_generate(family_server, checkpoint):
    with family_server.client() as client:
        body = {**SMALL, "override_settings": {"sd_model_checkpoint": checkpoint}}
        first = client.post("/sdapi/v1/txt2img", json=body)
        assert first.status_code == 200, first.text
        info = json.loads(first.json()["info"])
        assert info["sd_model_name"] == checkpoint
        assert decode_b64_image(first.json()["images"][0]).size == (64, 64)
        again = client.post("/sdapi/v1/txt2img", json=body).json()
        assert again["images"][0] == first.json()["images"][0]
        mask_free = client.post("/sdapi/v1/img2img", json={**body, "init_images": [first.json()["images"][0]]})
        assert mask_free.status_code == 200, mask_free.text


def _opts(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(list(flags))


def test_precision_flags_on_cpu():
    assert choose_precision(_opts("--use-cpu", "all")).unet_dtype == torch.float32
    assert choose_precision(_opts("--use-cpu", "all", "--precision", "bf16")).unet_dtype == torch.bfloat16
    assert choose_precision(_opts("--use-cpu", "all", "--precision", "full")).unet_dtype == torch.float32
    bf16 = choose_precision(_opts("--use-cpu", "all", "--precision", "bf16"))
    assert (bf16.vae_dtype, bf16.text_dtype) == (torch.bfloat16, torch.bfloat16)  # measured faster on the CPU
    assert choose_precision(_opts("--use-cpu", "all", "--precision", "bf16", "--no-half-vae")).vae_dtype == torch.float32
    assert choose_precision(_opts("--use-cpu", "all")).component_dtypes() == dict.fromkeys(
        ("unet", "vae", "text_encoder", "text_encoder_2"), torch.float32)


def test_bf16_server_generates_a_different_but_deterministic_image(api, tmp_path):
    server = EaselServer(make_data_dir(tmp_path), "--precision", "bf16", "--xformers").start()
    try:
        with server.client() as client:
            bf16 = client.post("/sdapi/v1/txt2img", json=SMALL).json()["images"][0]
            assert client.post("/sdapi/v1/txt2img", json=SMALL).json()["images"][0] == bf16
    finally:
        server.stop()
    assert "xformers only works on CUDA" in server.log()
    fp32 = api.post("/sdapi/v1/txt2img", json={**SMALL, "override_settings": {"sd_model_checkpoint": "tiny-a"}})
    assert fp32.json()["images"][0] != bf16
