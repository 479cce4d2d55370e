"""A1111's timestep samplers against diffusers' own DDIM, PNDM (PLMS) and UniPC schedulers as independent
references (k-diffusion has none of them), and A1111's step-count quirk: `range(0, 1000, 1000 // steps) + 1`
timesteps with one update fewer than there are timesteps.
"""
from __future__ import annotations

import diffusers
import numpy as np
import pytest
import torch

from modules.engine.kdiffusion import timesteps
from tests.engine import kdiffusion_reference as ref
from tests.engine.kdiffusion_reference import MEASURED
from tests.engine.test_a1111_reference import encode

SD1_SCHEDULER = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                 "num_train_timesteps": 1000, "steps_offset": 1, "clip_sample": False, "set_alpha_to_one": False,
                 "timestep_spacing": "leading"}


def test_timesteps_and_step_count_follow_a1111():
    assert timesteps.get_timesteps(20).tolist() == list(range(1, 1000, 50))
    assert timesteps.get_timesteps(3).tolist() == [1, 334, 667, 999]  # 1000 % 3 != 0: four timesteps


def _guided_eps(engine, cond, uncond, pooled, cfg, size):
    model = ref.LdmModel(engine.pipe.unet, pooled, engine_time_ids(engine, size))

    def eps(x, t):
        t_in = torch.full((2 * x.shape[0],), float(t))
        out = model.apply_model(torch.cat([x, x]), t_in, torch.cat([cond, uncond]))
        c, u = out.chunk(2)
        return u + (c - u) * cfg

    return eps


def engine_time_ids(engine, size):
    from modules.engine.cond_builder import ConditioningBuilder

    return ConditioningBuilder.for_pipe(engine.pipe, engine.family, engine.options).time_ids(size, size)


def _reference(engine, name: str, steps: int, seed: int = 7, cfg: float = 5.0, size: int = 16):
    pipe = engine.pipe
    config = {**SD1_SCHEDULER, "prediction_type": engine.prediction}  # guided v works like guided eps (linear)
    cond, uncond, pooled, _ = encode(engine, "a cat", "ugly", 1)
    eps = _guided_eps(engine, cond, uncond, pooled, cfg, size)
    latent = size // pipe.vae_scale_factor
    x = torch.randn((1, 4, latent, latent), generator=torch.Generator().manual_seed(seed))
    if name == "DDIM":
        sched = diffusers.DDIMScheduler.from_config(config)
        sched.set_timesteps(steps)
        run = sched.timesteps[:-1]  # A1111 stops one update early, at t=1
        step = lambda e, t, x: sched.step(e, t, x, eta=0.0).prev_sample  # noqa: E731
    elif name == "PLMS":
        sched = diffusers.PNDMScheduler.from_config(config, skip_prk_steps=True)
        sched.set_timesteps(steps)
        run = sched.timesteps[:-1]
        step = lambda e, t, x: sched.step(e, t, x).prev_sample  # noqa: E731
    else:  # UniPC on A1111's continuous times: t_i = linspace(1, 1/1000, steps + 1), model time (t - 1/1000) * 1000
        sched = diffusers.UniPCMultistepScheduler.from_config(config, solver_order=3, solver_type="bh1",
                                                              predict_x0=True, lower_order_final=True)
        sched.set_timesteps(steps)
        times = np.linspace(1.0, 1.0 / 1000, steps + 1, dtype=np.float32)
        log_alpha = 0.5 * np.log(ref.ldm_alphas_cumprod().double().numpy())
        alpha = np.exp(np.interp(times.astype(np.float64), np.linspace(0, 1, 1001)[1:], log_alpha))
        sched.sigmas = torch.tensor(np.sqrt(1 - alpha ** 2) / alpha, dtype=torch.float32)
        sched.timesteps = torch.tensor((times[:-1] - 1.0 / 1000) * 1000.0, dtype=torch.float32)
        run = sched.timesteps
        step = lambda e, t, x: sched.step(e, t, x).prev_sample  # noqa: E731
    with torch.no_grad():
        for t in run:
            x = step(eps(x, t), t, x)
        return ref.decode(pipe.vae, x)


@pytest.mark.parametrize("sampler", ["DDIM", "PLMS", "UniPC"])
def test_timestep_samplers_match_diffusers_references(sd1, sampler):
    steps = 5  # 1000 % steps == 0, so diffusers' spacing is A1111's
    easel, _ = sd1.run(sampler_name=sampler, steps=steps)
    reference = _reference(sd1, sampler, steps)
    diff = int(np.abs(easel[0].astype(int) - reference[0].astype(int)).max())
    MEASURED[("sd1", sampler, "(timesteps)")] = diff
    assert diff <= 1, f"{sampler}: max difference {diff} uint8 levels"


@pytest.mark.parametrize("sampler", ["DDIM", "UniPC"])
def test_timestep_samplers_convert_v_prediction(sd2, sampler):
    easel, _ = sd2.run(sampler_name=sampler, steps=5)
    diff = int(np.abs(easel[0].astype(int) - _reference(sd2, sampler, 5)[0].astype(int)).max())
    MEASURED[("sd2", sampler, "(timesteps)")] = diff
    assert diff <= 1, f"{sampler} (v-prediction): max difference {diff} uint8 levels"


def test_ddim_makes_one_model_call_fewer_than_steps(sd1):
    calls = []
    from modules.step_control import StepControl

    sd1.run(sampler_name="DDIM", steps=4, control=StepControl(on_step=lambda i, n, _x: calls.append((i, n))))
    assert calls == [(1, 3), (2, 3), (3, 3)]
