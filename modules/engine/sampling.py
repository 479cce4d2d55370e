"""One sampling pass as A1111 1.10 runs it: sigmas or timesteps, initial noise, the sampler and CFG.

txt2img starts from `noise * sigmas[0]`; img2img and the hires pass keep the last `t_enc + 1` sigmas of a longer
schedule (A1111's `setup_img2img_steps`) and start from `init + noise * sigma`. The timestep samplers (DDIM, PLMS,
UniPC) use the model's discrete timesteps instead. Progress is reported once per sampler step with the denoised
prediction; an interrupt or skip stops at the next model call and returns the last prediction, as A1111 does.
`DenoiseInputs.unet_patches` (modules/engine/unet_patches.py) are called before every UNet call of the pass.
"""
from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from modules.engine.kdiffusion import brownian, dpm_solver, k_samplers, schedules, timesteps, unipc
from modules.engine.kdiffusion.cfg import (  # noqa: F401 - Cond/StepConds/MaskBlend are re-exported for callers
    CFGDenoiser,
    Cond,
    MaskBlend,
    SamplingInterrupted,
    StepConds,
    TimestepsModel,
    UNetRunner,
)
from modules.engine.kdiffusion.context import SamplerContext
from modules.engine.kdiffusion.denoiser import CompVisDenoiser, LCMDenoiser
from modules.engine.noise import ImageRNG
from modules.engine.samplers import SamplerSpec, ScheduleSpec, effective_schedule
from modules.engine.unet_patches import SamplingProgress, UNetPatch
from modules.step_control import StepControl

_K_FUNCTIONS: dict[str, Callable] = {
    "euler": k_samplers.euler, "euler_ancestral": k_samplers.euler_ancestral, "heun": k_samplers.heun,
    "dpm_2": k_samplers.dpm_2, "dpm_2_ancestral": k_samplers.dpm_2_ancestral, "lms": k_samplers.lms,
    "dpmpp_2s_ancestral": k_samplers.dpmpp_2s_ancestral, "dpmpp_sde": k_samplers.dpmpp_sde,
    "dpmpp_2m": k_samplers.dpmpp_2m, "dpmpp_2m_sde": k_samplers.dpmpp_2m_sde,
    "dpmpp_3m_sde": k_samplers.dpmpp_3m_sde, "restart": k_samplers.restart, "lcm": k_samplers.lcm,
    "dpm_fast": dpm_solver.dpm_fast, "dpm_adaptive": dpm_solver.dpm_adaptive,
}
_EXTRA_DEFAULTS = {"s_churn": 0.0, "s_tmin": 0.0, "s_tmax": float("inf"), "s_noise": 1.0}
_EXTRA_INFOTEXT = {"s_churn": "Sigma churn", "s_tmin": "Sigma tmin", "s_tmax": "Sigma tmax", "s_noise": "Sigma noise"}


@dataclass
class DenoiseInputs:
    """Everything one pass needs. `options` reads A1111 option keys; `params` receives infotext keys."""

    unet: torch.nn.Module
    sampler: SamplerSpec
    schedule: ScheduleSpec
    steps: int
    rng: ImageRNG
    conds_at: Callable[[int], StepConds]  # conditioning for model call k (0-based)
    cfg_scale: float
    alphas_cumprod: torch.Tensor
    prediction_type: str
    options: Any
    seeds: list[int]
    family: str = "sd1"
    time_ids: torch.Tensor | None = None  # SDXL micro-conditioning, (6,)
    init_latents: torch.Tensor | None = None  # img2img / hires: the latents to start from
    denoising_strength: float = 1.0
    fixed_steps: bool = False  # hires pass (and img2img_fix_steps): run exactly `steps` steps
    noise_multiplier: float = 1.0
    noise: torch.Tensor | None = None  # the initial noise when already drawn (hires: scripts see it first)
    mask: MaskBlend | None = None
    image_cond: torch.Tensor | None = None  # (B, 5, h, w): inpainting checkpoints' mask + masked-image latents
    eta: float | None = None
    sigma_params: dict[str, float | None] = field(default_factory=dict)  # request s_churn/s_tmin/s_tmax/s_noise
    params: dict[str, Any] = field(default_factory=dict)
    unet_patches: list[UNetPatch] = field(default_factory=list)  # extra UNet inputs (modules/engine/unet_patches.py)


def img2img_steps(steps: int, denoising_strength: float, fixed: bool) -> tuple[int, int]:
    """A1111 `setup_img2img_steps`: (schedule length, t_enc)."""
    if fixed:
        total = int(steps / min(denoising_strength, 0.999)) if denoising_strength > 0 else 0
        return total, steps - 1
    return steps, int(min(denoising_strength, 0.999) * steps)


def schedule_sigmas(inp: DenoiseInputs, denoiser: CompVisDenoiser, steps: int) -> torch.Tensor:
    """A1111 `KDiffusionSampler.get_sigmas`, with its option overrides and infotext keys."""
    opts, params = inp.options, inp.params
    discard = inp.sampler.discard_next_to_last_sigma
    if opts.get("always_discard_next_to_last_sigma") and not discard:
        discard = True
        params["Discard penultimate sigma"] = True
    steps += 1 if discard else 0
    schedule = effective_schedule(inp.sampler, inp.schedule)
    function = schedules.FUNCTIONS[schedule.name]
    model_min, model_max = denoiser.sigmas[0].item(), denoiser.sigmas[-1].item()
    if function is None:
        sigmas = denoiser.get_sigmas(steps)
    else:
        old = opts.get("use_old_karras_scheduler_sigmas")
        kwargs: dict[str, Any] = {"sigma_min": 0.1 if old else model_min, "sigma_max": 10.0 if old else model_max}
        if opts.get("sigma_min") not in (0, model_min):
            kwargs["sigma_min"] = float(opts.get("sigma_min"))
            params["Schedule min sigma"] = opts.get("sigma_min")
        if opts.get("sigma_max") not in (0, model_max):
            kwargs["sigma_max"] = float(opts.get("sigma_max"))
            params["Schedule max sigma"] = opts.get("sigma_max")
        if schedule.default_rho != -1 and opts.get("rho") != 0:
            kwargs["rho"] = float(opts.get("rho"))
            params["Schedule rho"] = opts.get("rho")
        if schedule.name == "beta":
            kwargs.update(alpha=float(opts.get("beta_dist_alpha")), beta_=float(opts.get("beta_dist_beta")))
            params["Beta schedule alpha"] = opts.get("beta_dist_alpha")
            params["Beta schedule beta"] = opts.get("beta_dist_beta")
        sigmas = function(n=steps, denoiser=denoiser, family=inp.family, **kwargs)
    if discard:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas.cpu()


def _eta(inp: DenoiseInputs) -> float | None:
    option = inp.sampler.eta_option
    if option is None:
        return None
    eta = inp.eta if inp.eta is not None else float(inp.options.get(option))
    default, key = (0.0, "Eta DDIM") if option == "eta_ddim" else (1.0, "Eta")
    if eta != default:
        inp.params[key] = eta
    return eta


def _extra_params(inp: DenoiseInputs) -> dict[str, float]:
    """s_churn/s_tmin/s_tmax/s_noise for samplers that take them: the request's value, else the option's."""
    out = {}
    for name in inp.sampler.extra_params:
        value = inp.sigma_params.get(name)
        if value is None:
            value = inp.options.get(name)
        value = float(value)
        if name == "s_tmax" and not value:
            value = float("inf")
        if value != _EXTRA_DEFAULTS[name]:
            inp.params[_EXTRA_INFOTEXT[name]] = value
            out[name] = value
    return out


@torch.no_grad()
def denoise(inp: DenoiseInputs, control: StepControl) -> torch.Tensor:
    """Run one pass; returns the final latents (the last prediction if stopped)."""
    device = next(inp.unet.parameters()).device
    runner = UNetRunner(inp.unet, inp.time_ids, inp.unet_patches, SamplingProgress())
    noise = inp.noise if inp.noise is not None else inp.rng.next().to(device)
    noise = noise * (inp.noise_multiplier if inp.init_latents is not None else 1.0)
    if inp.init_latents is not None and inp.noise_multiplier != 1.0:
        inp.params["Noise multiplier"] = inp.noise_multiplier
    source = inp.rng.source
    with brownian.random_source(source) if inp.sampler.brownian_noise else contextlib.nullcontext():
        if inp.sampler.uses_timesteps:
            latents, cfg = _run_timesteps(inp, runner, noise, control, device)
        else:
            latents, cfg = _run_k(inp, runner, noise, control, device)
    if inp.mask is not None and inp.mask.blend is None:  # soft inpainting keeps the sampler's result
        keep = inp.mask.keep
        latents = latents * (1 - keep) + inp.mask.init_latents * keep
    return latents


def _context(inp: DenoiseInputs, cfg: CFGDenoiser, total: int, control: StepControl, device,
             progress: SamplingProgress) -> SamplerContext:
    def callback(i: int, x: torch.Tensor, denoised: torch.Tensor | None) -> None:
        progress.step = i
        if control.on_step is not None:
            control.on_step(min(i + 1, total), total, denoised if denoised is not None else x)

    return SamplerContext(model=cfg, randn=lambda: inp.rng.next().to(device), callback=callback)


def _sample(fn: Callable, ctx: SamplerContext, cfg: CFGDenoiser, x: torch.Tensor, **kwargs) -> torch.Tensor:
    cfg.last_latent = x
    try:
        return fn(ctx, x, **kwargs)
    except SamplingInterrupted:
        return cfg.last_latent


def _run_k(inp: DenoiseInputs, runner: UNetRunner, noise: torch.Tensor, control: StepControl, device):
    quantize = bool(inp.options.get("enable_quantization"))
    if inp.sampler.function == "lcm":
        denoiser: CompVisDenoiser = LCMDenoiser(runner, inp.alphas_cumprod, inp.prediction_type)
    else:
        denoiser = CompVisDenoiser(runner, inp.alphas_cumprod, inp.prediction_type, quantize=quantize)
    denoiser.sigmas, denoiser.log_sigmas = denoiser.sigmas.to(device), denoiser.log_sigmas.to(device)
    kwargs: dict[str, Any] = {**inp.sampler.kwargs, **_extra_params(inp)}
    eta = _eta(inp)
    if eta is not None:
        kwargs["eta"] = eta
    if inp.init_latents is None:
        sigmas = schedule_sigmas(inp, denoiser, inp.steps)
        if inp.options.get("sgm_noise_multiplier"):
            inp.params["SGM noise multiplier"] = True
            x = noise * torch.sqrt(1.0 + sigmas[0] ** 2.0)
        else:
            x = noise * sigmas[0]
        run = sigmas
        runner.progress.total = inp.steps
        if inp.sampler.uses_sigma_range:
            kwargs.update(sigma_min=denoiser.sigmas[0].item(), sigma_max=denoiser.sigmas[-1].item(), n=inp.steps)
    else:
        total, t_enc = img2img_steps(inp.steps, inp.denoising_strength, inp.fixed_steps)
        sigmas = schedule_sigmas(inp, denoiser, total)
        run = sigmas[total - t_enc - 1:]
        runner.progress.total = t_enc + 1
        x = inp.init_latents + noise * run[0]
        if inp.sampler.uses_sigma_range:
            kwargs.update(sigma_min=run[-2], sigma_max=run[0], n=len(run) - 1)
    fn = _K_FUNCTIONS[inp.sampler.function]
    cfg = CFGDenoiser(denoiser, inp.conds_at, inp.cfg_scale, control, mask=inp.mask, image_cond=inp.image_cond)
    steps_shown = inp.steps if inp.sampler.uses_sigma_range and inp.init_latents is None else len(run) - 1
    ctx = _context(inp, cfg, max(steps_shown, 1), control, device, runner.progress)
    if inp.sampler.brownian_noise and not inp.options.get("no_dpmpp_sde_batch_determinism"):
        positive = sigmas[sigmas > 0]
        ctx.noise_sampler = brownian.BrownianTreeNoiseSampler(x, positive.min(), sigmas.max(), inp.seeds)
    if inp.sampler.uses_sigma_range:
        if "n" not in inspect.signature(fn).parameters:
            kwargs.pop("n")
        return _sample(fn, ctx, cfg, x, **kwargs), cfg
    return _sample(fn, ctx, cfg, x, sigmas=run.to(device), **kwargs), cfg


def _run_timesteps(inp: DenoiseInputs, runner: UNetRunner, noise: torch.Tensor, control: StepControl, device):
    opts = inp.options
    alphas = inp.alphas_cumprod.to(device)
    discard = opts.get("always_discard_next_to_last_sigma")
    if discard:
        inp.params["Discard penultimate sigma"] = True
    kwargs: dict[str, Any] = {"alphas_cumprod": alphas}
    if inp.init_latents is None:
        steps = inp.steps + (1 if discard else 0)
        run = timesteps.get_timesteps(steps, device)
        runner.progress.total = inp.steps
        x = noise
    else:
        total, t_enc = img2img_steps(inp.steps, inp.denoising_strength, inp.fixed_steps)
        full = timesteps.get_timesteps(total + (1 if discard else 0), device)
        run = full[:t_enc]
        runner.progress.total = t_enc + 1
        a = alphas[full[t_enc]]
        x = inp.init_latents * torch.sqrt(a) + noise * torch.sqrt(1 - a)
    eta = _eta(inp)
    multiplier = 1 / 12.5 if inp.sampler.function == "ddim_cfgpp" else 1.0
    cfg = CFGDenoiser(TimestepsModel(runner, alphas, inp.prediction_type), inp.conds_at, inp.cfg_scale, control,
                      timesteps=True, mask=inp.mask, alphas_cumprod=alphas, cond_scale_multiplier=multiplier,
                      image_cond=inp.image_cond)
    if inp.sampler.function == "unipc":
        fn: Callable = unipc.unipc
        kwargs.update(is_img2img=inp.init_latents is not None, variant=opts.get("uni_pc_variant"),
                      skip_type=opts.get("uni_pc_skip_type"), order=int(opts.get("uni_pc_order")),
                      lower_order_final=bool(opts.get("uni_pc_lower_order_final")))
        total_steps = len(run)
    else:
        fn = timesteps.plms if inp.sampler.function == "plms" else timesteps.ddim
        if eta is not None:
            kwargs["eta"] = eta
        if inp.sampler.function == "ddim_cfgpp":
            kwargs["last_uncond"] = lambda: cfg.last_noise_uncond
        total_steps = len(run) - 1
    ctx = _context(inp, cfg, max(total_steps, 1), control, device, runner.progress)
    if len(run) == 0:
        return x, cfg
    return _sample(fn, ctx, cfg, x, timesteps=run, **kwargs), cfg
