"""A shared in-process server with tiny 8x checkpoints (SD1, SDXL) and tiny ControlNets in every file layout."""
from __future__ import annotations

import base64
import io
import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tests.inprocess import InProcessServer
from tests.support import ROOT

CN_DIR = ROOT / "extensions_builtin" / "controlnet"
if str(CN_DIR) not in sys.path:  # lib_controlnet, as the extension's script puts it there
    sys.path.append(str(CN_DIR))

CANNY = "control_v11p_sd15_canny"
BASE = {"prompt": "a house", "negative_prompt": "blurry", "steps": 4, "width": 64, "height": 64, "seed": 11,
        "sampler_name": "Euler", "cfg_scale": 6.0}


def write_models(root) -> None:
    from lib_controlnet import tiny

    ckpts, cns = root / "models" / "Stable-diffusion", root / "models" / "ControlNet"
    tiny.write_tiny_checkpoint_8x(ckpts / "tiny8.safetensors", family="sd1")
    tiny.write_tiny_checkpoint_8x(ckpts / "tiny8-xl.safetensors", family="sdxl")
    tiny.write_tiny_controlnet(cns / f"{CANNY}.safetensors", family="sd1", seed=1)
    tiny.write_tiny_controlnet(cns / "control_v11f1p_sd15_depth.pth", family="sd1", seed=2, prefix="")
    tiny.write_tiny_controlnet(cns / "sub" / "control_sd15_diffusers_keys.safetensors", family="sd1", seed=3,
                               layout="diffusers")
    tiny.write_tiny_controlnet(cns / "control_sd15_folder", family="sd1", seed=4, layout="folder")
    tiny.write_tiny_controlnet(cns / "control_v11e_sd15_shuffle.safetensors", family="sd1", seed=5)
    tiny.write_tiny_controlnet(cns / "diffusers_xl_canny_tiny.safetensors", family="sdxl", seed=6)
    (cns / "annotator" / "hed").mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, cns / "annotator" / "hed" / "ControlNetHED.pth")  # never listed as a model


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def cn_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("controlnet")
    write_models(root)
    return root


@pytest.fixture(scope="session")
def cn_server(cn_data):
    server = InProcessServer(cn_data, "--ckpt", "tiny8").start()
    yield server
    server.stop()


@pytest.fixture()
def cn(cn_server):
    with cn_server.client() as client:
        yield client


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def pixels(data: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))), dtype=np.int16)


def drawing(size: tuple[int, int] = (64, 64)) -> Image.Image:
    """Black shapes on white: a picture with edges."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.rectangle([w // 4, h // 4, 3 * w // 4, 3 * h // 4], outline="black", width=max(2, w // 24))
    draw.ellipse([w // 8, h // 2, w // 2, 7 * h // 8], fill=(200, 30, 30))
    return image


def unit(**fields) -> dict:
    return {"enabled": True, "module": "canny", "model": CANNY, "image": b64(drawing()), **fields}


def generate(client, units=None, mode: str = "txt2img", key: str = "controlnet", **fields):
    body = {**BASE, **fields}
    if units is not None:
        body["alwayson_scripts"] = {**body.get("alwayson_scripts", {}), key: {"args": units}}
    response = client.post(f"/sdapi/v1/{mode}", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    data["info_json"] = json.loads(data["info"])
    return data


def error(client, units, mode: str = "txt2img", status: int = 422, **fields) -> dict:
    body = {**BASE, **fields, "alwayson_scripts": {"controlnet": {"args": units}}}
    response = client.post(f"/sdapi/v1/{mode}", json=body)
    assert response.status_code == status, response.text
    return response.json()
