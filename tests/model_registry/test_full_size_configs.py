"""Full-size SD1.5 / SD2.1 / SDXL architectures, checked on the meta device (no weights allocated).

Build each component from the shipped config with init_empty_weights, write its keys in the LDM layout with
our diffusers->ldm converter, infer the config back from those shapes, and convert back with diffusers'
converters: the inferred config must equal the shipped one and every key/shape must round-trip.
"""
from __future__ import annotations

import json

import pytest
from accelerate import init_empty_weights

from modules.model_registry import arch
from modules.model_registry import components as comp
from modules.model_registry import ldm_convert as lc
from modules.model_registry.configs import load_component_config
from modules.model_registry.family import detect_family


def _meta_components(family: str):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def clip(component, cls):
        cfg = load_component_config(family, component)
        for meta in ("architectures", "torch_dtype", "model_type"):
            cfg.pop(meta)
        return cls(CLIPTextConfig(**cfg))

    with init_empty_weights(include_buffers=True):
        parts = {"unet": UNet2DConditionModel.from_config(load_component_config(family, "unet")),
                 "vae": AutoencoderKL.from_config(load_component_config(family, "vae")),
                 "text_encoder": clip("text_encoder", CLIPTextModel)}
        if family == "sdxl":
            parts["text_encoder_2"] = clip("text_encoder_2", CLIPTextModelWithProjection)
    return parts


def _shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_full_size_architecture_round_trip(family):
    parts = _meta_components(family)
    unet_params = sum(p.numel() for p in parts["unet"].parameters())
    expected = {"sd1": 859_520_964, "sd2": 865_910_724, "sdxl": 2_567_463_684}[family]
    assert unet_params == expected
    ldm = lc.unet_to_ldm(parts["unet"].state_dict(), parts["unet"].config)
    ldm.update(lc.vae_to_ldm(parts["vae"].state_dict(), parts["vae"].config))
    te = parts["text_encoder"].state_dict()
    if family == "sd1":
        ldm.update(lc.clip_to_ldm(te, lc.CLIP_PREFIX_SD1))
    elif family == "sd2":
        ldm.update(lc.openclip_to_ldm(te, lc.OPENCLIP_PREFIX_SD2))
    else:
        ldm.update(lc.clip_to_ldm(te, lc.CLIP_PREFIX_SDXL))
        ldm.update(lc.openclip_to_ldm(parts["text_encoder_2"].state_dict(), lc.OPENCLIP_PREFIX_SDXL))
    assert detect_family(ldm) == family

    unet_cfg = arch.infer_unet_config(ldm, family)
    shipped = load_component_config(family, "unet")
    for key in ("block_out_channels", "layers_per_block", "cross_attention_dim", "attention_head_dim",
                "down_block_types", "up_block_types", "in_channels", "out_channels"):
        got, want = unet_cfg[key], shipped[key]
        assert (list(got) == want) if isinstance(want, list) else (got == want), key
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    back = convert_ldm_unet_checkpoint(ldm, unet_cfg)
    assert _shapes(back) == _shapes(parts["unet"].state_dict())

    vae_state = comp.vae_subset(ldm)
    vae_cfg = arch.infer_vae_config(vae_state, family)
    assert vae_cfg["block_out_channels"] == [128, 256, 512, 512]
    assert _shapes(comp.convert_vae(vae_state, vae_cfg)) == _shapes(parts["vae"].state_dict())

    if family == "sd1":
        hf = comp.convert_clip(ldm, lc.CLIP_PREFIX_SD1.removesuffix("text_model."))
    elif family == "sd2":
        hf = comp.convert_openclip(ldm, lc.OPENCLIP_PREFIX_SD2)
    else:
        hf = comp.convert_clip(ldm, lc.CLIP_PREFIX_SDXL.removesuffix("text_model."))
        hf2 = comp.convert_openclip(ldm, lc.OPENCLIP_PREFIX_SDXL)
        cfg2 = arch.infer_clip_config(hf2, family, "text_encoder_2")
        assert (cfg2["hidden_size"], cfg2["num_hidden_layers"], cfg2["num_attention_heads"]) == (1280, 32, 20)
        want2 = {k.removeprefix("text_model."): v for k, v in _shapes(parts["text_encoder_2"].state_dict()).items()}
        assert _shapes(hf2) == want2
    cfg = arch.infer_clip_config(hf, family, "text_encoder")
    shipped_te = load_component_config(family, "text_encoder")
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act"):
        assert cfg[key] == shipped_te[key]
    want = _shapes(parts["text_encoder"].state_dict())
    assert {k: v for k, v in _shapes(hf).items() if k != "text_projection.weight"} == want


def test_shipped_config_dirs_load():
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from modules.model_registry.configs import config_dir

    for family in ("sd1", "sd2", "sdxl"):
        index = json.loads((config_dir(family) / "model_index.json").read_text())
        assert "safety_checker" not in index and "feature_extractor" not in index
        cfg = UNet2DConditionModel.load_config(config_dir(family) / "unet")
        assert cfg["sample_size"] == {"sd1": 64, "sd2": 96, "sdxl": 128}[family]
        assert AutoencoderKL.load_config(config_dir(family) / "vae")["latent_channels"] == 4
