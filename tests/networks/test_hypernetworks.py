"""Hypernetworks: A1111 .pt files (key layouts written by hand here), the MLP math, the attention hooks, the
`<hypernet:name:multiplier>` tag, the sd_hypernetwork option, --hypernetwork-dir and /sdapi/v1/hypernetworks."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from modules.engine.hypernetworks import HypernetworkApplier, load_hypernetwork
from modules.errors import ModelLoadError
from tests.inprocess import InProcessServer
from tests.support import decode_b64_image, make_data_dir

SIZES = (32, 64)  # the tiny SD1 model: text context 32, attention hidden states 64


def _randn(gen: torch.Generator, *shape: int, scale: float = 0.3) -> torch.Tensor:
    return torch.randn(*shape, generator=gen) * scale


def relu_pair_state(dim: int, gen: torch.Generator) -> dict:
    """layer_structure [1, 2, 1], relu, no layer norm, no dropout, activate_output False: linear.0, ReLU, linear.2."""
    return {"linear.0.weight": _randn(gen, 2 * dim, dim), "linear.0.bias": _randn(gen, 2 * dim),
            "linear.2.weight": _randn(gen, dim, 2 * dim), "linear.2.bias": _randn(gen, dim)}


def deep_state(dim: int, gen: torch.Generator) -> dict:
    """[1, 2, 2, 1], swish (Hardswish), layer norm, dropout after the first hidden layer only, output activated:
    Linear 0, act 1, LN 2, Dropout 3, Linear 4, act 5, LN 6, Linear 7, act 8, LN 9."""
    def ln(width: int) -> tuple[torch.Tensor, torch.Tensor]:
        return 1 + _randn(gen, width, scale=0.1), _randn(gen, width, scale=0.1)

    state = {"linear.0.weight": _randn(gen, 2 * dim, dim), "linear.0.bias": _randn(gen, 2 * dim),
             "linear.4.weight": _randn(gen, 2 * dim, 2 * dim), "linear.4.bias": _randn(gen, 2 * dim),
             "linear.7.weight": _randn(gen, dim, 2 * dim), "linear.7.bias": _randn(gen, dim)}
    for index, width in ((2, 2 * dim), (6, 2 * dim), (9, dim)):
        state[f"linear.{index}.weight"], state[f"linear.{index}.bias"] = ln(width)
    return state


def write_hypernetwork(path: Path, seed: int, kind: str = "relu") -> Path:
    gen = torch.Generator().manual_seed(seed)
    if kind == "relu":
        meta = {"layer_structure": [1, 2, 1], "activation_func": "relu", "is_layer_norm": False,
                "use_dropout": False, "activate_output": False}
        states = {dim: (relu_pair_state(dim, gen), relu_pair_state(dim, gen)) for dim in SIZES}
    elif kind == "deep":
        meta = {"layer_structure": [1, 2, 2, 1], "activation_func": "swish", "is_layer_norm": True,
                "use_dropout": True, "last_layer_dropout": False}
        states = {dim: (deep_state(dim, gen), deep_state(dim, gen)) for dim in SIZES}
    else:  # the oldest files: no metadata, linear1 / linear2 keys
        meta = {}
        states = {dim: tuple({"linear1.weight": _randn(gen, 2 * dim, dim), "linear1.bias": _randn(gen, 2 * dim),
                              "linear2.weight": _randn(gen, dim, 2 * dim), "linear2.bias": _randn(gen, dim)}
                             for _ in range(2)) for dim in SIZES}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**states, **meta, "name": path.stem, "step": 1000, "sd_checkpoint_name": "tiny"}, path)
    return path


def _linear(x, state, key):
    return x @ state[f"{key}.weight"].T + state[f"{key}.bias"]


# -- the MLPs -------------------------------------------------------------------------------------------------------
def test_relu_file_computes_x_plus_mlp_times_multiplier(tmp_path):
    path = write_hypernetwork(tmp_path / "a.pt", 1)
    net = load_hypernetwork(path)
    assert sorted(net.layers) == list(SIZES) and net.step == 1000
    raw = torch.load(path, weights_only=True)
    x = torch.randn(3, 32, generator=torch.Generator().manual_seed(2))
    for index in (0, 1):
        state = raw[32][index]
        expected = x + _linear(torch.relu(_linear(x, state, "linear.0")), state, "linear.2") * 0.7
        net.set_multiplier(0.7)
        assert torch.allclose(net.layers[32][index](x), expected, atol=1e-6)


def test_deep_file_with_layer_norm_dropout_and_output_activation(tmp_path):
    net = load_hypernetwork(write_hypernetwork(tmp_path / "deep.pt", 2, "deep"))
    state = torch.load(tmp_path / "deep.pt", weights_only=True)[64][1]
    x = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(3))

    def ln(v, key):
        return torch.nn.functional.layer_norm(v, v.shape[-1:], state[f"{key}.weight"], state[f"{key}.bias"])

    act = torch.nn.functional.hardswish
    h = ln(act(_linear(x, state, "linear.0")), "linear.2")
    h = ln(act(_linear(h, state, "linear.4")), "linear.6")
    h = ln(act(_linear(h, state, "linear.7")), "linear.9")
    assert torch.allclose(net.layers[64][1](x), x + h, atol=1e-5)  # dropout is inactive (eval), multiplier 1


def test_oldest_key_names_load(tmp_path):
    net = load_hypernetwork(write_hypernetwork(tmp_path / "old.pt", 3, "old"))
    state = torch.load(tmp_path / "old.pt", weights_only=True)[32][0]
    x = torch.randn(4, 32)
    expected = x + _linear(_linear(x, state, "linear1"), state, "linear2")
    assert torch.allclose(net.layers[32][0](x), expected, atol=1e-5)


def test_a_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"layer_structure": [1, 2, 1], 32: (object(), object())}, path)
    with pytest.raises(ModelLoadError):
        load_hypernetwork(path)


def test_hooks_change_only_matching_widths_and_come_off(pipe, tmp_path):
    net = load_hypernetwork(write_hypernetwork(tmp_path / "a.pt", 1))
    del net.layers[64]  # only the text-context width
    attention = next(m for m in pipe.unet.modules() if hasattr(m, "to_k") and m.to_k.in_features == 32)
    self_attention = next(m for m in pipe.unet.modules() if hasattr(m, "to_k") and m.to_k.in_features == 64)
    context, hidden = torch.randn(1, 7, 32), torch.randn(1, 9, 64)
    before_k, before_v, before_self = attention.to_k(context), attention.to_v(context), self_attention.to_k(hidden)
    applier = HypernetworkApplier()
    applier.apply(pipe.unet, [(net, 1.0)])
    try:
        assert torch.allclose(attention.to_k(context), attention.to_k.forward(net.layers[32][0](context)))
        assert not torch.allclose(attention.to_v(context), before_v)
        assert torch.equal(self_attention.to_k(hidden), before_self)  # no 64-wide layers in this file
    finally:
        applier.restore()
    assert not applier.active
    assert torch.equal(attention.to_k(context), before_k) and torch.equal(attention.to_v(context), before_v)


# -- through the real app: tags, option, folders -------------------------------------------------------------------
@pytest.fixture(scope="module")
def hyper_server(tmp_path_factory):
    root = make_data_dir(tmp_path_factory.mktemp("hyper-data"))
    write_hypernetwork(root / "models" / "hypernetworks" / "styleA.pt", 11)
    write_hypernetwork(root / "models" / "hypernetworks" / "sub" / "styleB.pt", 12, "deep")
    public = tmp_path_factory.mktemp("public-hypernetworks")
    write_hypernetwork(public / "shared.pt", 13, "old")
    server = InProcessServer(root, "--hypernetwork-dir", str(public)).start()
    yield server
    server.stop()


@pytest.fixture()
def hapi(hyper_server):
    with hyper_server.client() as client:
        yield client


def txt2img(client, prompt: str, **fields) -> tuple[bytes, dict]:
    """(the image's pixels, info): pixels, because the PNG also carries the prompt."""
    body = {"prompt": prompt, "steps": 3, "width": 64, "height": 64, "seed": 77, **fields}
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    return np.asarray(decode_b64_image(data["images"][0]).convert("RGB")).tobytes(), json.loads(data["info"])


def test_listed_from_both_folders(hapi, hyper_server):
    listed = hapi.get("/sdapi/v1/hypernetworks").json()
    assert sorted(h["name"] for h in listed) == ["shared", "styleA", "styleB"]
    assert all(Path(h["path"]).is_file() for h in listed)


def test_tag_applies_and_the_model_is_restored(hapi):
    plain, _ = txt2img(hapi, "a cat")
    styled, info = txt2img(hapi, "a cat <hypernet:styleA:1>")
    zero, _ = txt2img(hapi, "a cat <hypernet:styleA:0>")
    again, _ = txt2img(hapi, "a cat")
    assert styled != plain
    assert zero == plain  # x + mlp(x) * 0 is x
    assert again == plain  # hooks removed after the batch
    assert info["infotexts"][0].startswith("a cat <hypernet:styleA:1>\n")  # the tag stays in the infotext prompt


def test_hypernetworks_chain_in_prompt_order(hapi):
    a, _ = txt2img(hapi, "a cat <hypernet:styleA:1>")
    b, _ = txt2img(hapi, "a cat <hypernet:styleB:1>")
    both, _ = txt2img(hapi, "a cat <hypernet:styleA:1> <hypernet:styleB:1>")
    public, _ = txt2img(hapi, "a cat <hypernet:shared:0.5>")
    assert len({a, b, both, public}) == 4


def test_sd_hypernetwork_option_adds_the_tag(hapi):
    tagged, _ = txt2img(hapi, "a cat<hypernet:styleA:1.0>")
    via_option, info = txt2img(hapi, "a cat", override_settings={"sd_hypernetwork": "styleA"})
    assert via_option == tagged
    assert info["infotexts"][0].startswith("a cat<hypernet:styleA:1.0>\n")
    bad = hapi.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 1, "override_settings":
                                                {"sd_hypernetwork": "nope"}})
    assert bad.status_code == 422 and "sd_hypernetwork" in bad.text


def test_unknown_hypernetwork_is_a_comment(hapi):
    plain, _ = txt2img(hapi, "a cat")
    missing, info = txt2img(hapi, "a cat <hypernet:nope:1>")
    assert missing == plain
    assert "Hypernetwork not found: nope" in info["comments"]


def test_disable_extra_networks_ignores_the_tag(hapi):
    plain, _ = txt2img(hapi, "a cat")
    ignored, _ = txt2img(hapi, "a cat <hypernet:styleA:1>", disable_extra_networks=True)
    assert ignored == plain
