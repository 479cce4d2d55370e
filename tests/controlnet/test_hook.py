"""The ControlNet UNet patch: guidance windows, soft weights, prompt-only residuals, pooling and unit sums."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from lib_controlnet import tiny
from lib_controlnet.hook import ActiveUnit, ControlNetPatch
from lib_controlnet.loader import LoadedControlNet

from modules.engine.unet_patches import UNetCall

NET = LoadedControlNet(tiny.build_tiny_controlnet("sd1", 1), "sd1", "tiny", False, 0)


def active_unit(**fields) -> ActiveUnit:
    torch.manual_seed(0)
    defaults = dict(index=0, model=NET, hint=torch.rand(1, 3, 64, 64), hr_hint=None, weight=1.0, guidance_start=0.0,
                    guidance_end=1.0, soft=False, prompt_rows_only=False, soft_in_hires=False)
    return ActiveUnit(**{**defaults, **fields})


def call(step: int = 0, total: int = 10, uncond=(False, True)) -> UNetCall:
    generator = torch.Generator().manual_seed(1)
    rows = len(uncond)
    return UNetCall(x=torch.randn(rows, 4, 8, 8, generator=generator), timestep=torch.full((rows,), 500.0),
                    encoder_hidden_states=torch.randn(rows, 77, 32, generator=generator), added_cond_kwargs=None,
                    uncond=tuple(uncond), image_index=0, sampling_step=step, sampling_steps=total)


def test_scales():
    unit = active_unit(weight=0.8)
    assert unit.scales(13, False, False) == [0.8] * 13
    soft = replace(unit, soft=True).scales(13, False, False)
    assert soft[12] == pytest.approx(0.8) and soft[0] == pytest.approx(0.8 * 0.825 ** 12)
    assert replace(unit, soft=True).scales(10, True, False) == soft[:10]  # SDXL keeps the first ten
    assert replace(unit, soft_in_hires=True).scales(13, False, True) == soft  # canny/mlsd in the hires pass
    assert replace(unit, soft_in_hires=True).scales(13, False, False) == [0.8] * 13
    assert replace(unit, advanced_weighting=[0.5] * 7).scales(7, False, False) == [0.5] * 7


def test_the_window_and_hr_option():
    unit = active_unit(guidance_start=0.2, guidance_end=0.5)
    assert [unit.active(call(step), False) for step in range(8)] == [False, False, True, True, True, True, False,
                                                                       False]
    assert not active_unit(weight=0).active(call(), False)
    assert not active_unit(hr_option="Low res only").active(call(), True)
    assert active_unit(hr_option="Low res only").active(call(), False)
    assert not active_unit(hr_option="High res only").active(call(), False)


def test_residuals_prompt_rows_pooling_and_sums():
    out = ControlNetPatch([active_unit()])(call())
    assert len(out["down_block_additional_residuals"]) == 6 and out["mid_block_additional_residual"].shape[0] == 2
    prompt_only = ControlNetPatch([active_unit(prompt_rows_only=True)])(call())
    assert torch.equal(prompt_only["mid_block_additional_residual"][1], torch.zeros_like(out["mid_block_additional_residual"][1]))
    assert torch.allclose(prompt_only["mid_block_additional_residual"][0], out["mid_block_additional_residual"][0])
    pooled = ControlNetPatch([active_unit(model=replace(NET, global_average_pooling=True))])(call())
    mid = pooled["mid_block_additional_residual"]
    assert mid.shape[2:] == (1, 1) and torch.equal(mid[1], torch.zeros_like(mid[1]))
    twice = ControlNetPatch([active_unit(), active_unit()])(call())
    assert torch.allclose(twice["mid_block_additional_residual"], 2 * out["mid_block_additional_residual"], atol=1e-5)
    assert ControlNetPatch([active_unit(guidance_start=0.9)])(call(step=1)) is None  # nothing active: no inputs


def test_the_patch_gives_what_the_controlnet_gives():
    unit = active_unit()
    c = call()
    down, mid = NET.model(c.x, c.timestep, encoder_hidden_states=c.encoder_hidden_states,
                          controlnet_cond=unit.hint.expand(2, -1, -1, -1), return_dict=False)
    out = ControlNetPatch([unit])(c)
    assert torch.allclose(out["mid_block_additional_residual"], mid, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(out["down_block_additional_residuals"], down))
    assert "forward" not in vars(NET.model.controlnet_cond_embedding)  # the hint encoder is itself again
