"""Easel's samplers against an independent A1111 1.10 reference built from the k-diffusion package.

For every k-diffusion sampler x schedule type, the tiny SD1 checkpoint's image must equal the reference's within
one uint8 level (fp32, CPU RNG); SDXL runs every sampler with its default schedule and one sampler over every
schedule. The reference drives the same UNet through k-diffusion's CompVisDenoiser exactly as A1111 does; its
schedules are k-diffusion's where it has them (Karras, Exponential, Polyexponential, the denoiser's own) and
A1111's formulas (sd_schedulers.py) on k-diffusion's denoiser otherwise. The measured differences are printed
at the end (`pytest -s`).
"""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from scipy import stats

from modules.engine import samplers
from modules.engine.cond_builder import ConditioningBuilder
from tests.engine import kdiffusion_reference as ref

SAMPLING, EXTERNAL = ref.load()
FUNCTIONS = {
    "Euler a": "sample_euler_ancestral", "Euler": "sample_euler", "LMS": "sample_lms", "Heun": "sample_heun",
    "DPM2": "sample_dpm_2", "DPM2 a": "sample_dpm_2_ancestral", "DPM++ 2S a": "sample_dpmpp_2s_ancestral",
    "DPM++ 2M": "sample_dpmpp_2m", "DPM++ SDE": "sample_dpmpp_sde", "DPM++ 2M SDE": "sample_dpmpp_2m_sde",
    "DPM++ 2M SDE Heun": "sample_dpmpp_2m_sde", "DPM++ 3M SDE": "sample_dpmpp_3m_sde",
    "DPM fast": "sample_dpm_fast", "DPM adaptive": "sample_dpm_adaptive",
    "Restart": "sample_heun",  # below 20 steps A1111's Restart is exactly Heun over the same sigmas
}
SCHEDULED = [name for name in FUNCTIONS if name not in ("DPM fast", "DPM adaptive")]
MEASURED = ref.MEASURED


def reference_sigmas(sampler: samplers.SamplerSpec, schedule: str, steps: int, denoiser, family: str):
    """A1111 KDiffusionSampler.get_sigmas (options at their defaults), written against k-diffusion."""
    steps += 1 if sampler.discard_next_to_last_sigma else 0
    name = schedule if schedule != "automatic" else sampler.default_schedule
    smin, smax = denoiser.sigmas[0].item(), denoiser.sigmas[-1].item()
    if name in ("automatic", "uniform"):
        sigmas = denoiser.get_sigmas(steps)
    elif name == "karras":
        sigmas = SAMPLING.get_sigmas_karras(steps, smin, smax)
    elif name == "exponential":
        sigmas = SAMPLING.get_sigmas_exponential(steps, smin, smax)
    elif name == "polyexponential":
        sigmas = SAMPLING.get_sigmas_polyexponential(steps, smin, smax)
    elif name in ("sgm_uniform", "normal"):
        start, end = denoiser.sigma_to_t(torch.tensor(smax)), denoiser.sigma_to_t(torch.tensor(smin))
        ts = torch.linspace(start, end, steps + 1)[:-1] if name == "sgm_uniform" else torch.linspace(start, end, steps)
        sigmas = torch.FloatTensor([*(denoiser.t_to_sigma(t) for t in ts), 0.0])
    elif name == "kl_optimal":
        a_min, a_max = math.atan(smin), math.atan(smax)
        sigmas = torch.tan(torch.arange(steps + 1) / steps * a_min + (1.0 - torch.arange(steps + 1) / steps) * a_max)
    elif name == "align_your_steps":
        table = ([14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029] if family == "sdxl"
                 else [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029])
        ys = np.exp(np.interp(np.linspace(0, 1, steps), np.linspace(0, 1, len(table)), np.log(table[::-1])))[::-1]
        sigmas = torch.FloatTensor([*ys, 0.0])
    elif name == "simple":
        ss = len(denoiser.sigmas) / steps
        sigmas = torch.FloatTensor([*(float(denoiser.sigmas[-(1 + int(x * ss))]) for x in range(steps)), 0.0])
    elif name == "ddim":
        ss = max(len(denoiser.sigmas) // steps, 1)
        sigmas = torch.FloatTensor([*(float(denoiser.sigmas[x]) for x in range(1, len(denoiser.sigmas), ss))][::-1]
                                   + [0.0])
    elif name == "beta":
        ts = [stats.beta.ppf(x, 0.6, 0.6) for x in 1 - np.linspace(0, 1, steps)]
        sigmas = torch.FloatTensor([*(smin + x * (smax - smin) for x in ts), 0.0])
    else:
        raise AssertionError(name)
    if sampler.discard_next_to_last_sigma:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas


def encode(engine, prompt: str, negative: str, n: int):
    builder = ConditioningBuilder.for_pipe(engine.pipe, engine.family, engine.options)
    cond, uncond = builder.encoder.encode(prompt), builder.encoder.encode(negative)
    pooled = None
    if cond.pooled is not None:
        pooled = torch.cat([cond.pooled.repeat(n, 1), uncond.pooled.repeat(n, 1)])
    return cond.hidden.repeat(n, 1, 1), uncond.hidden.repeat(n, 1, 1), pooled, builder


def reference_latents(engine, sampler_name: str, schedule: str, steps: int = 3, seeds=(7,), cfg: float = 5.0,
                      size: int = 16, prompt="a cat", negative: str = "ugly", ensd: int = 0,
                      first_noise: torch.Tensor | None = None, init_latents: torch.Tensor | None = None,
                      denoising: float = 0.75, fixed_steps: bool = False):
    """A1111's KDiffusionSampler.sample / sample_img2img on k-diffusion. `prompt` may be a schedule
    `[(end_at_call, text), ...]`."""
    sampler = samplers.find_sampler(sampler_name)
    pipe = engine.pipe
    n = len(seeds)
    texts = prompt if isinstance(prompt, list) else [(10 ** 9, prompt)]
    encoded = [(end, encode(engine, text, negative, n)) for end, text in texts]
    _, uncond, pooled, builder = encoded[0][1]
    cond = [(end, parts[0]) for end, parts in encoded]
    model = ref.LdmModel(pipe.unet, pooled, builder.time_ids(size, size))
    wrap = EXTERNAL.CompVisVDenoiser if engine.prediction == "v_prediction" else EXTERNAL.CompVisDenoiser
    denoiser = wrap(model)
    total, t_enc = steps, steps - 1
    if init_latents is not None:
        if fixed_steps:
            total = int(steps / min(denoising, 0.999))
        else:
            t_enc = int(min(denoising, 0.999) * steps)
    sigmas = reference_sigmas(sampler, schedule, total, denoiser, engine.family)
    run = sigmas[total - t_enc - 1:]
    latent = size // pipe.vae_scale_factor
    rng = ref.ReferenceRNG((pipe.unet.config.in_channels, latent, latent), list(seeds), ensd, first_noise)
    SAMPLING.torch = ref.TorchHijack(rng)
    x = rng.next() * run[0] if init_latents is None else init_latents + rng.next() * run[0]
    fn = getattr(SAMPLING, FUNCTIONS[sampler_name])
    kwargs = {"disable": True}
    if "eta" in inspect.signature(fn).parameters:
        kwargs["eta"] = 1.0  # A1111 always passes eta (option eta_ancestral) to samplers that take it
    if sampler.uses_sigma_range:
        kwargs.update(sigma_min=denoiser.sigmas[0].item(), sigma_max=denoiser.sigmas[-1].item())
        if sampler_name == "DPM fast":
            kwargs["n"] = steps
    else:
        kwargs["sigmas"] = run
    if sampler.brownian_noise:
        positive = sigmas[sigmas > 0]
        kwargs["noise_sampler"] = SAMPLING.BrownianTreeNoiseSampler(x, positive.min(), sigmas.max(), seed=list(seeds))
    if sampler_name == "DPM++ 2M SDE Heun":
        kwargs["solver_type"] = "heun"
    with torch.no_grad():
        return fn(ref.CFG(denoiser, cond, uncond, cfg), x, **kwargs)


def reference_images(engine, sampler_name: str, schedule: str, **kwargs) -> list[np.ndarray]:
    with torch.no_grad():
        return ref.decode(engine.pipe.vae, reference_latents(engine, sampler_name, schedule, **kwargs))


def max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> int:
    assert len(a) == len(b)
    return max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(a, b))


def assert_matches(engine, sampler: str, schedule: str, **fields):
    label = samplers.find_schedule(schedule).label
    easel, _ = engine.run(sampler_name=sampler, scheduler=label, **fields)
    reference = reference_images(engine, sampler, schedule, **{k: v for k, v in fields.items() if k == "steps"})
    diff = max_diff(easel, reference)
    MEASURED[(engine.family, sampler, label)] = diff
    assert diff <= 1, f"{sampler} / {label}: max difference {diff} uint8 levels"


@pytest.mark.parametrize("schedule", [s.name for s in samplers.SCHEDULES])
@pytest.mark.parametrize("sampler", SCHEDULED)
def test_sd1_sampler_and_schedule_match_k_diffusion(sd1, sampler, schedule):
    assert_matches(sd1, sampler, schedule)


@pytest.mark.parametrize("sampler", ["DPM fast", "DPM adaptive"])
def test_sd1_sigma_range_samplers_match_k_diffusion(sd1, sampler):
    assert_matches(sd1, sampler, "automatic")


@pytest.mark.parametrize("sampler", list(FUNCTIONS))
def test_sdxl_every_sampler_matches_k_diffusion(sdxl, sampler):
    assert_matches(sdxl, sampler, "automatic")


@pytest.mark.parametrize("schedule", [s.name for s in samplers.SCHEDULES])
def test_sdxl_every_schedule_matches_k_diffusion(sdxl, schedule):
    assert_matches(sdxl, "Euler", schedule)


@pytest.mark.parametrize("sampler, schedule", [("Euler a", "automatic"), ("DPM++ 2M", "automatic"),
                                               ("Heun", "karras"), ("DPM++ SDE", "exponential")])
def test_sd2_v_prediction_matches_k_diffusion(sd2, sampler, schedule):
    assert sd2.prediction == "v_prediction"
    assert_matches(sd2, sampler, schedule)
