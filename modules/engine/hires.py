"""Hires fix: A1111's txt2img second pass (upscale the first-pass result, then img2img it at the larger size).

A1111 1.10 semantics kept (processing.py `StableDiffusionProcessingTxt2Img`):
- Target size: `hr_resize_x/y` both 0 -> `int(width * hr_scale)` x `int(height * hr_scale)` ("Hires upscale");
  otherwise "Hires resize": one side given keeps the aspect ratio; both given scales to cover and crops the
  excess in latent space (truncate_x/y).
- `hr_upscaler`: null -> "Latent"; the Latent modes interpolate the latents (torch `interpolate`); any other name is
  an image upscaler of modules/upscalers: decode, `images.resize_image(0, ...)` with it, encode again.
- The second pass runs exactly `hr_second_pass_steps or steps` steps of a schedule of
  `int(steps / min(denoising_strength, 0.999))` steps (A1111's `setup_img2img_steps` with fixed steps);
  denoising 0 leaves the upscaled latents as they are. Its noise comes from the image seeds (fresh per-image RNG).
- `hr_sampler_name` / `hr_scheduler` (null, "Use same sampler", "Use same scheduler" -> the first pass's).
- `hr_prompt` / `hr_negative_prompt`: "" -> the image's prompt.
- Infotext keys, in A1111's order: Denoising strength, Hires sampler (if it differs), Hires prompt / Hires negative
  prompt (if they differ), Hires schedule type (if it differs), Hires upscale | Hires resize, Hires steps (if set),
  Hires upscaler (if given). "Size" and the info `width`/`height` stay the first-pass size, as in A1111.
Deviation: A1111 1.10 fails (TypeError, 500) for enable_hr with denoising_strength null; Easel uses 0.7, the
A1111 UI default for the hires pass, and writes it to the infotext.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from modules import images as image_utils
from modules.engine import inpaint_cond, samplers
from modules.engine.img2img import mask_weight
from modules.engine.sampling import denoise
from modules.extra_networks import parse_extra_networks
from modules.generation.hires import (  # noqa: F401 - the torch-free part, re-exported
    DEFAULT_DENOISING,
    DEFAULT_UPSCALER,
    LATENT_FACTOR,
    LATENT_UPSCALE_MODES,
    SAME_SAMPLER,
    SAME_SCHEDULER,
    final_size,
    target_size,
    upscaler_names,
)
from modules.step_control import StepControl


@dataclass
class HiresPlan:
    """Everything the second pass needs, resolved once per generation."""

    width: int  # A1111 hr_upscale_to_x
    height: int
    truncate_x: int  # pixels to crop (hr_resize with both sides), cut in latent space as A1111 does
    truncate_y: int
    upscaler: str
    latent_mode: tuple[str, bool] | None  # (torch mode, antialias) for the Latent upscalers, else None
    steps: int
    denoising: float
    sampler: samplers.SamplerSpec
    schedule: samplers.ScheduleSpec
    on_start: Callable[[], None] | None = None  # progress: the hires job of the current iteration begins








def plan(p, sampler: samplers.SamplerSpec, schedule: samplers.ScheduleSpec) -> HiresPlan | None:
    """The hires plan of a txt2img request (None when hires is off); fills p.extra_generation_params as A1111's
    `init` does and resolves `p.denoising_strength` (null -> 0.7)."""
    if not getattr(p, "enable_hr", False) or p.is_img2img:
        return None
    if p.denoising_strength is None:
        p.denoising_strength = DEFAULT_DENOISING
    hr_sampler, hr_schedule = sampler, schedule
    if p.hr_sampler_name and p.hr_sampler_name != SAME_SAMPLER:
        hr_sampler, _ = samplers.resolve(p.hr_sampler_name, None, field_name="hr_sampler_name")
    if p.hr_scheduler and p.hr_scheduler != SAME_SCHEDULER:
        hr_schedule = samplers.find_schedule(p.hr_scheduler, field_name="hr_scheduler")
    upscaler = p.hr_upscaler or DEFAULT_UPSCALER
    extra = p.extra_generation_params
    extra["Denoising strength"] = p.denoising_strength
    if hr_sampler.name != sampler.name:
        extra["Hires sampler"] = hr_sampler.name
    extra["Hires prompt"] = p.hr_prompt if p.hr_prompt and p.hr_prompt != p.prompt else None
    extra["Hires negative prompt"] = (p.hr_negative_prompt if p.hr_negative_prompt
                                      and p.hr_negative_prompt != p.negative_prompt else None)
    first_label = samplers.infotext_schedule_label(sampler, schedule)
    hr_label = samplers.infotext_schedule_label(hr_sampler, hr_schedule)
    extra["Hires schedule type"] = hr_label if hr_label != first_label and not hr_sampler.uses_timesteps else None
    to_x, to_y, tx, ty = target_size(p.width, p.height, p.hr_scale, p.hr_resize_x, p.hr_resize_y)
    if p.hr_resize_x == 0 and p.hr_resize_y == 0:
        extra["Hires upscale"] = p.hr_scale
    else:
        extra["Hires resize"] = f"{p.hr_resize_x}x{p.hr_resize_y}"
    if p.hr_second_pass_steps:
        extra["Hires steps"] = p.hr_second_pass_steps
    if p.hr_upscaler is not None:
        extra["Hires upscaler"] = p.hr_upscaler
    return HiresPlan(width=to_x, height=to_y, truncate_x=tx, truncate_y=ty, upscaler=upscaler,
                     latent_mode=LATENT_UPSCALE_MODES.get(upscaler), steps=p.hr_second_pass_steps or p.steps,
                     denoising=float(p.denoising_strength), sampler=hr_sampler, schedule=hr_schedule)


@torch.no_grad()
def encode_images(pipe, images: list[Image.Image], device: torch.device) -> torch.Tensor:
    """RGB images -> scaled latents (float32), as img2img encodes its init images."""
    arr = np.stack([np.asarray(img.convert("RGB"), dtype=np.float32) / 127.5 - 1.0 for img in images])
    vae = pipe.vae
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).to(device, vae.dtype)
    latents = vae.encode(x).latent_dist.mode()
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return ((latents - shift) * vae.config.scaling_factor).float()


def upscale_latents(generator, pipe, hr: HiresPlan, latents: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The first pass's latents at the target size (latent interpolation, or decode + image upscaler + encode),
    cropped by truncate_x/y like A1111."""
    factor = pipe.vae_scale_factor
    if hr.latent_mode is not None:
        mode, antialias = hr.latent_mode
        latents = torch.nn.functional.interpolate(latents.float(), size=(hr.height // factor, hr.width // factor),
                                                  mode=mode, antialias=antialias)
    else:
        decoded = generator.decode(pipe, latents)
        resized = [image_utils.resize_image(0, img, hr.width, hr.height, upscaler_name=hr.upscaler,
                                            field="hr_upscaler") for img in decoded]
        latents = encode_images(pipe, resized, device)
    ty, tx = hr.truncate_y // factor, hr.truncate_x // factor
    return latents[:, :, ty // 2:latents.shape[2] - (ty + 1) // 2, tx // 2:latents.shape[3] - (tx + 1) // 2]


@torch.no_grad()
def second_pass(generator, p, model, hr: HiresPlan, builder, latents: torch.Tensor,
                control: StepControl) -> torch.Tensor:
    """Upscale the current batch's first-pass latents and denoise them again at the target size (before_hr and
    process_before_every_sampling run first). Returns the final latents."""
    pipe = model.pipe
    device = generator.precision.device
    if hr.on_start is not None:
        hr.on_start()
    latents = upscale_latents(generator, pipe, hr, latents, device).to(device)
    rng = generator.image_rng(p, tuple(latents.shape[1:]), pipe.vae_scale_factor)
    noise = rng.next().to(device)
    runner = p.scripts
    if runner is not None:
        runner.before_hr(p)
        runner.process_before_every_sampling(p, None, x=latents, noise=noise)
    if hr.denoising <= 0:
        return latents
    # Extra-network tags in the hires prompts are stripped; the networks of the first pass stay active.
    prompts = [parse_extra_networks(p.hr_prompt)[0] if p.hr_prompt else text for text in p.prompts]
    negatives = [parse_extra_networks(p.hr_negative_prompt)[0] if p.hr_negative_prompt else text
                 for text in p.negative_prompts]
    height, width = latents.shape[2] * pipe.vae_scale_factor, latents.shape[3] * pipe.vae_scale_factor
    # A1111 `calculate_hr_conds`: the schedule of the hires pass, its model calls counted from 0
    first_pass_sampler, _ = samplers.resolve(p.sampler_name, p.scheduler)
    conds_at = builder.schedule(prompts, negatives, first_pass_sampler.total_steps(p.steps),
                                hires_steps=hr.sampler.total_steps(hr.steps))
    image_cond = None
    if inpaint_cond.is_inpainting(pipe.unet):
        image_cond = inpaint_cond.hires_conditioning(pipe, latents, mask_weight(p, generator.options), True)
    inputs = generator.denoise_inputs(p, model, hr.sampler, hr.schedule, hr.steps, rng, conds_at,
                                      builder.time_ids(width, height), init_latents=latents,
                                      denoising_strength=hr.denoising, fixed_steps=True, noise=noise,
                                      image_cond=image_cond)
    return denoise(inputs, control)
