"""LoRA math, kohya name mapping, exact restore and the per-batch hook, in-process on a tiny SD1 pipeline."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from modules.engine import lora as lora_mod
from modules.engine.embedding_registry import EmbeddingRegistry
from modules.engine.lora import ActiveNetwork, LoraApplier, compute_delta, parse_network
from modules.engine.networks import ExtraNetworks, lora_requests
from modules.extra_networks import parse_extra_networks
from modules.model_registry.loras import LoraRegistry
from modules.processing import GenerationRequest
from tests.networks.builders import TE_TARGETS, UNET_TARGETS, kohya_name, lora_state, write_lora


def _weights(pipe) -> dict[str, torch.Tensor]:
    out = {f"unet.{k}": v.clone() for k, v in pipe.unet.state_dict().items()}
    out.update({f"te.{k}": v.clone() for k, v in pipe.text_encoder.state_dict().items()})
    return out


def _same_bits(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].view(torch.int32) if a[k].dtype == torch.float32
                                                    else a[k], b[k].view(torch.int32) if b[k].dtype ==
                                                    torch.float32 else b[k]) for k in a)


def test_delta_math_linear_and_conv():
    down, up = torch.randn(4, 8), torch.randn(6, 4)
    delta = compute_delta({"lora_down.weight": down, "lora_up.weight": up, "alpha": torch.tensor(2.0)},
                          torch.Size([6, 8]))
    assert torch.allclose(delta, up @ down * 0.5)
    down3, up3 = torch.randn(4, 8, 3, 3), torch.randn(6, 4, 1, 1)
    delta3 = compute_delta({"lora_down.weight": down3, "lora_up.weight": up3}, torch.Size([6, 8, 3, 3]))
    expected = nn.functional.conv2d(down3.permute(1, 0, 2, 3), up3).permute(1, 0, 2, 3)  # compose the two convs
    assert torch.allclose(delta3, expected, atol=1e-5)


def test_loha_and_lokr_shapes():
    loha = {k: torch.randn(*s) for k, s in {"hada_w1_a": (6, 2), "hada_w1_b": (2, 8), "hada_w2_a": (6, 2),
                                             "hada_w2_b": (2, 8)}.items()}
    loha["alpha"] = torch.tensor(1.0)
    assert compute_delta(loha, torch.Size([6, 8])).shape == (6, 8)
    lokr = {"lokr_w1": torch.randn(2, 2), "lokr_w2_a": torch.randn(3, 1), "lokr_w2_b": torch.randn(1, 4)}
    assert torch.allclose(compute_delta(lokr, torch.Size([6, 8])),
                          torch.kron(lokr["lokr_w1"], lokr["lokr_w2_a"] @ lokr["lokr_w2_b"]))
    with pytest.raises(ValueError, match="unsupported network type"):
        compute_delta({"oft_blocks": torch.randn(2)}, torch.Size([2, 2]))


def test_target_map_knows_diffusers_and_ldm_names(pipe):
    targets = lora_mod.build_target_map(pipe)
    for path in UNET_TARGETS:
        module_d, _ = targets[kohya_name(path, "unet")]
        module_l, _ = targets[kohya_name(path, "unet", ldm=True)]
        assert module_d is module_l
    assert "lora_unet_input_blocks_4_1_proj_in" in targets
    for path in TE_TARGETS:
        assert targets[kohya_name(path, "te")][1] is True


@pytest.mark.parametrize("ldm", [False, True])
def test_apply_changes_weights_and_restore_is_bit_exact(pipe, ldm):
    before = _weights(pipe)
    applier = LoraApplier()
    parsed = parse_network(lora_state(1, ldm=ldm))
    assert not applier.apply(pipe, [ActiveNetwork("a", parsed, te=1.0, unet=0.7)])
    after = _weights(pipe)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert len(changed) == len(UNET_TARGETS) + len(TE_TARGETS)
    applier.restore()
    assert _same_bits(before, _weights(pipe))


def test_multipliers_split_te_and_unet(pipe):
    before = _weights(pipe)
    applier = LoraApplier()
    applier.apply(pipe, [ActiveNetwork("a", parse_network(lora_state(2)), te=0.0, unet=1.0)])
    changed = {k.split(".")[0] for k, v in _weights(pipe).items() if not torch.equal(before[k], v)}
    applier.restore()
    assert changed == {"unet"}
    applier.apply(pipe, [ActiveNetwork("a", parse_network(lora_state(2)), te=0.0, unet=0.0)])
    assert not applier.active  # nothing touched at weight 0
    assert _same_bits(before, _weights(pipe))


def test_lora_requests_positional_named_and_defaults():
    _, tags = parse_extra_networks("x <lora:a> <lyco:b:0.5> <lora:c:0.3:0.9> <lora:d:te=0.2:unet=0.4:dyn=8>")
    got = [(r.name, r.te, r.unet) for r in lora_requests(tags)]
    assert got == [("a", 1.0, 1.0), ("b", 0.5, 0.5), ("c", 0.3, 0.9), ("d", 0.2, 0.4)]


def test_batch_hook_strips_tags_reports_unknown_and_restores(pipe, tmp_path):
    write_lora(tmp_path / "Lora" / "style.safetensors", 3, metadata={"ss_output_name": "styleAlias"})
    registry = LoraRegistry([tmp_path / "Lora"])
    registry.refresh()
    assert registry.find("styleAlias").name == "style"

    class Opts:
        def get(self, key):
            return {"lora_add_hashes_to_infotext": True}[key]

    networks = ExtraNetworks(registry, EmbeddingRegistry([tmp_path / "emb"]), Opts())
    p = GenerationRequest(prompt="x")
    p.prompts = ["a cat <lora:style:0.8> <lora:nope:1>", "a dog <lora:other:1>"]
    p.negative_prompts = ["blurry <lora:style:1>", "ugly"]
    before = _weights(pipe)
    with networks.batch(p, pipe) as active:
        assert active.applied == ["style"] and active.not_found == ["nope"]
        assert not _same_bits(before, _weights(pipe))
    assert _same_bits(before, _weights(pipe))
    assert p.prompts == ["a cat  ", "a dog "] and p.negative_prompts == ["blurry ", "ugly"]
    assert "Lora not found: nope" in p.comments
    shorthash = registry.find("style").shorthash
    assert len(shorthash) == 12 and p.extra_generation_params["Lora hashes"] == f"style: {shorthash}"
    # the parsed file stays cached between batches / requests
    p.prompts = ["again <lora:styleAlias:1>"]
    with networks.batch(p, pipe) as active:
        assert active.applied == ["style"]
    assert _same_bits(before, _weights(pipe))
    assert networks.applier.load_count == 1
