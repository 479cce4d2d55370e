"""Hires fix planning (A1111 target sizes, infotext keys) and the latent upscale step."""
from __future__ import annotations

import pytest
import torch

from modules.engine import hires, samplers, sampling
from modules.processing import GenerationRequest


@pytest.mark.parametrize("args, expected", [
    ((512, 512, 2.0, 0, 0), (1024, 1024, 0, 0)),
    ((512, 768, 1.5, 0, 0), (768, 1152, 0, 0)),
    ((512, 768, 2.0, 1024, 0), (1024, 1536, 0, 0)),  # one side: keep the aspect ratio
    ((512, 768, 2.0, 0, 1024), (682, 1024, 0, 0)),
    ((512, 512, 2.0, 1024, 768), (1024, 1024, 0, 256)),  # both: cover, then crop
    ((768, 512, 2.0, 1024, 1024), (1536, 1024, 512, 0)),
])
def test_target_size_matches_a1111(args, expected):
    assert hires.target_size(*args) == expected


def test_final_size_crops_in_latent_units():
    assert hires.final_size(512, 512, 2.0, 1024, 768) == (1024, 768)
    assert hires.final_size(64, 64, 1.3, 0, 0) == (80, 80)


def _request(**fields) -> GenerationRequest:
    return GenerationRequest(prompt="a cat", width=64, height=64, steps=4, enable_hr=True, **fields)


def test_plan_fills_infotext_keys_in_a1111_order():
    sampler, schedule = samplers.resolve("Euler", None)
    p = _request(hr_scale=2.0, hr_upscaler="Nearest", hr_second_pass_steps=3, hr_sampler_name="DPM++ 2M",
                 hr_prompt="a dog")
    plan = hires.plan(p, sampler, schedule)
    assert plan is not None and (plan.width, plan.height, plan.steps) == (128, 128, 3)
    assert plan.latent_mode is None and plan.upscaler == "Nearest" and plan.denoising == hires.DEFAULT_DENOISING
    shown = {k: v for k, v in p.extra_generation_params.items() if v is not None}
    assert list(shown) == ["Denoising strength", "Hires sampler", "Hires prompt", "Hires schedule type",
                           "Hires upscale", "Hires steps", "Hires upscaler"]
    assert shown["Hires schedule type"] == "Karras" and shown["Hires sampler"] == "DPM++ 2M"


def test_plan_defaults_and_off():
    sampler, schedule = samplers.resolve("Euler", None)
    p = _request(denoising_strength=0.3)
    plan = hires.plan(p, sampler, schedule)
    assert plan.latent_mode == ("bilinear", False) and plan.steps == 4 and plan.sampler is sampler
    assert "Hires upscaler" not in p.extra_generation_params
    assert hires.plan(GenerationRequest(), sampler, schedule) is None


def test_latent_upscale_and_crop():
    plan = hires.HiresPlan(width=128, height=128, truncate_x=0, truncate_y=32, upscaler="Latent (nearest)",
                           latent_mode=("nearest", False), steps=1, denoising=0.5,
                           sampler=samplers.SAMPLERS[0], schedule=samplers.SCHEDULES[0])

    class Pipe:
        vae_scale_factor = 8

    latents = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8)
    out = hires.upscale_latents(None, Pipe(), plan, latents, torch.device("cpu"))
    assert out.shape == (1, 1, 12, 16)
    assert torch.equal(out[0, 0, 0, :2], latents[0, 0, 1, :1].repeat(2))  # nearest, first 2 rows cropped


def test_hires_pass_runs_exactly_the_requested_steps():
    # A1111 setup_img2img_steps with fixed steps: a schedule of int(3 / 0.7) = 4 steps, t_enc = 2, the last 3 run
    total, t_enc = sampling.img2img_steps(3, 0.7, fixed=True)
    assert (total, t_enc) == (4, 2) and len(range(total - t_enc - 1, total)) == 3
    assert sampling.img2img_steps(20, 0.5, fixed=False) == (20, 10)
