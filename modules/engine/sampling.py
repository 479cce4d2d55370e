"""The denoising loop: classifier-free guidance with per-step conditioning, AND weights, masks and control."""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from modules.step_control import StepControl


@dataclass
class Cond:
    """One encoded prompt: `hidden` (L, D) token states; `pooled` (P,) for SDXL, else None."""

    hidden: torch.Tensor
    pooled: torch.Tensor | None = None


@dataclass
class StepConds:
    """Conditioning for one step: per image, the negative prompt and the weighted positive sub-prompts."""

    uncond: list[Cond]
    conds: list[list[tuple[Cond, float]]]


@dataclass
class MaskBlend:
    """Inpainting: keep the init latents (noised to the current level) where `keep` is 1."""

    init_latents: torch.Tensor
    noise: torch.Tensor
    keep: torch.Tensor  # (B, 1, h, w), 1 = keep original, 0 = repaint


@dataclass
class DenoiseInputs:
    unet: torch.nn.Module
    scheduler: object
    latents: torch.Tensor
    timesteps: torch.Tensor
    conds_at: Callable[[int], StepConds]
    cfg_scale: float
    generators: list[torch.Generator]
    empty_chunk: torch.Tensor  # (77, D): appended to shorter conditionings, as A1111 pads them
    step_offset: int = 0  # steps already done before `timesteps` (img2img), for prompt schedules
    time_ids: torch.Tensor | None = None  # SDXL micro-conditioning, (6,)
    mask: MaskBlend | None = None
    step_kwargs: dict = field(default_factory=dict)


def _pad(hidden: torch.Tensor, length: int, empty: torch.Tensor) -> torch.Tensor:
    if hidden.shape[0] == length:
        return hidden
    repeats = (length - hidden.shape[0]) // empty.shape[0]
    return torch.cat([hidden, empty.to(hidden).repeat(repeats, 1)])


def _model_batch(sc: StepConds, empty: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, list[list[float]]]:
    """Stack every image's uncond then its conds into one UNet batch; returns hidden, pooled, weights."""
    items: list[Cond] = []
    weights: list[list[float]] = []
    for uncond, conds in zip(sc.uncond, sc.conds):
        items.append(uncond)
        items.extend(c for c, _ in conds)
        weights.append([w for _, w in conds])
    length = max(c.hidden.shape[0] for c in items)
    hidden = torch.stack([_pad(c.hidden, length, empty) for c in items])
    pooled = torch.stack([c.pooled for c in items]) if items[0].pooled is not None else None
    return hidden, pooled, weights


def _accepted_kwargs(fn: Callable, kwargs: dict) -> dict:
    params = inspect.signature(fn).parameters
    return {k: v for k, v in kwargs.items() if k in params and v is not None}


@torch.no_grad()
def denoise(inp: DenoiseInputs, control: StepControl) -> torch.Tensor:
    """Run the sampler over `inp.timesteps`; returns the final latents (partial ones if stopped)."""
    scheduler, unet = inp.scheduler, inp.unet
    latents = inp.latents
    unet_dtype = next(unet.parameters()).dtype
    step_kwargs = _accepted_kwargs(scheduler.step, {**inp.step_kwargs, "generator": inp.generators})
    total = len(inp.timesteps)
    for i, t in enumerate(inp.timesteps):
        if control.stop_requested():
            break
        sc = inp.conds_at(inp.step_offset + i)
        hidden, pooled, weights = _model_batch(sc, inp.empty_chunk)
        repeats = torch.tensor([1 + len(w) for w in weights])
        x_in = torch.repeat_interleave(latents, repeats, dim=0)
        x_in = scheduler.scale_model_input(x_in, t)
        extra = {}
        if pooled is not None:
            ids = inp.time_ids.to(latents.device).unsqueeze(0).repeat(x_in.shape[0], 1)
            extra["added_cond_kwargs"] = {"text_embeds": pooled.to(unet_dtype), "time_ids": ids.to(unet_dtype)}
        pred = unet(x_in.to(unet_dtype), t, encoder_hidden_states=hidden.to(unet_dtype), **extra).sample.float()
        guided = []
        offset = 0
        for w in weights:
            uncond = pred[offset]
            delta = sum(wk * (pred[offset + 1 + k] - uncond) for k, wk in enumerate(w))
            guided.append(uncond + inp.cfg_scale * delta)
            offset += 1 + len(w)
        noise_pred = torch.stack(guided)
        latents = scheduler.step(noise_pred, t, latents, **step_kwargs).prev_sample
        if inp.mask is not None:
            latents = _blend_mask(scheduler, inp, latents, i)
        if control.on_step is not None:
            control.on_step(i + 1, total, latents)
    if inp.mask is not None:
        keep = inp.mask.keep
        latents = inp.mask.init_latents * keep + latents * (1 - keep)
    return latents


def _blend_mask(scheduler, inp: DenoiseInputs, latents: torch.Tensor, i: int) -> torch.Tensor:
    if i + 1 >= len(inp.timesteps):
        return latents
    next_t = inp.timesteps[i + 1:i + 2]
    init = inp.mask.init_latents
    if hasattr(scheduler, "add_noise"):
        init = _add_noise(scheduler, init, inp.mask.noise, next_t)
    keep = inp.mask.keep
    return init * keep + latents * (1 - keep)


def _add_noise(scheduler, original: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    # Sigma-based schedulers look the timestep up by position; keep their step index untouched.
    saved = getattr(scheduler, "_begin_index", None)
    out = scheduler.add_noise(original, noise, t)
    if saved is not None:
        scheduler._begin_index = saved
    return out
