"""LoRA and textual inversion through a real server with its own data dir (files present before start)."""
from __future__ import annotations

import json

import pytest
import torch

from tests.networks.builders import write_embedding, write_lora
from tests.support import EaselServer, decode_b64_image, make_data_dir


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = make_data_dir(tmp_path_factory.mktemp("networks-data"))
    lora_dir = root / "models" / "Lora"
    write_lora(lora_dir / "styleA.safetensors", 11, metadata={"ss_output_name": "aliasA", "ss_network_dim": "4"})
    write_lora(lora_dir / "sub" / "styleB.safetensors", 12, ldm=True)  # LDM-path kohya names
    write_lora(lora_dir / "styleC.pt", 13, te=False)
    write_embedding(root / "embeddings" / "easelstyle.pt",
                    torch.randn(2, 32, generator=torch.Generator().manual_seed(5)))
    write_embedding(root / "embeddings" / "widething.pt", torch.randn(1, 768))
    server = EaselServer(root, "--ckpt", "tiny-a").start()
    yield server
    server.stop()


@pytest.fixture()
def api(server):
    with server.client() as client:
        yield client


def txt2img(api, prompt: str, **fields) -> tuple[str, dict]:
    body = {"prompt": prompt, "steps": 3, "width": 64, "height": 64, "seed": 77, **fields}
    response = api.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    return data["images"][0], json.loads(data["info"])


def pixels(b64: str) -> bytes:
    """The decoded RGB bytes (the PNG also embeds the infotext, which differs when the prompt does)."""
    return decode_b64_image(b64).convert("RGB").tobytes()


def test_lora_tags_change_combine_and_restore_exactly(api):
    plain, plain_info = txt2img(api, "a cat")
    with_a, info_a = txt2img(api, "a cat <lora:styleA:1>")
    with_b, _ = txt2img(api, "a cat <lora:styleB:1>")
    both, info_ab = txt2img(api, "a cat <lora:styleA:1> <lora:styleB:0.8>")
    assert len({pixels(plain), pixels(with_a), pixels(with_b), pixels(both)}) == 4
    assert all(len(set(pixels(image))) > 16 for image in (plain, with_a, with_b, both))  # not saturated
    assert txt2img(api, "a cat")[0] == plain  # removal restores the plain image byte for byte
    assert pixels(txt2img(api, "a cat <lora:styleA:0>")[0]) == pixels(plain)  # weight 0 == plain
    assert txt2img(api, "a cat <lora:styleA:1>")[0] == with_a  # deterministic with the cached network
    assert "Lora hashes" not in plain_info["extra_generation_params"]
    hashes = info_ab["extra_generation_params"]["Lora hashes"]
    assert hashes.startswith("styleA: ") and ", styleB: " in hashes
    text = info_a["infotexts"][0]
    assert text.startswith("a cat <lora:styleA:1>\n") and 'Lora hashes: "styleA: ' in text


def test_alias_named_args_and_lyco(api):
    by_name, _ = txt2img(api, "a cat <lora:styleA:1>")
    assert pixels(txt2img(api, "a cat <lora:aliasA:1>")[0]) == pixels(by_name)
    assert pixels(txt2img(api, "a cat <lyco:styleA:te=1:unet=1:dyn=4>")[0]) == pixels(by_name)
    te_only, _ = txt2img(api, "a cat <lora:styleA:1:0>")
    assert pixels(te_only) != pixels(by_name)


def test_unknown_lora_is_reported_not_failed(api):
    plain, _ = txt2img(api, "a cat")
    image, info = txt2img(api, "a cat <lora:doesNotExist:1>")
    assert pixels(image) == pixels(plain)
    assert info["comments"] == "Lora not found: doesNotExist\n"
    assert "Lora hashes" not in info["extra_generation_params"]
    assert "Lora not found: doesNotExist" in info["infotexts"][0]


def test_negative_prompt_tags_are_stripped(api):
    plain, _ = txt2img(api, "a cat", negative_prompt="ugly")
    assert pixels(txt2img(api, "a cat", negative_prompt="ugly<lora:styleA:1>")[0]) == pixels(plain)


def test_loras_listing_and_refresh(api, server):
    items = {item["name"]: item for item in api.get("/sdapi/v1/loras").json()}
    assert set(items) == {"styleA", "styleB", "styleC"}
    a = items["styleA"]
    assert a["alias"] == "aliasA" and a["path"].endswith("styleA.safetensors")
    assert a["metadata"] == {"ss_output_name": "aliasA", "ss_network_dim": "4"}
    assert items["styleC"]["alias"] == "styleC" and items["styleC"]["metadata"] == {}
    write_lora(server.data_dir / "models" / "Lora" / "late.safetensors", 14)
    assert api.post("/sdapi/v1/refresh-loras").json() is None
    assert "late" in {item["name"] for item in api.get("/sdapi/v1/loras").json()}


def test_embedding_used_by_name(api):
    listing = api.get("/sdapi/v1/embeddings").json()
    assert set(listing["loaded"]) == {"easelstyle"} and set(listing["skipped"]) == {"widething"}
    assert listing["loaded"]["easelstyle"]["vectors"] == 2 and listing["skipped"]["widething"]["shape"] == 768
    plain, plain_info = txt2img(api, "a photo of style")
    styled, info = txt2img(api, "a photo of easelstyle")
    other, _ = txt2img(api, "a photo of easelstyle")
    assert styled == other and pixels(styled) != pixels(txt2img(api, "a photo of easelstyl")[0])
    assert pixels(styled) != pixels(plain)
    assert "TI hashes" not in plain_info["extra_generation_params"]
    assert info["extra_generation_params"]["TI hashes"].startswith("easelstyle: ")
    assert 'TI hashes: "easelstyle: ' in info["infotexts"][0]
    assert api.post("/sdapi/v1/refresh-embeddings").json() is None
