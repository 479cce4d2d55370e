"""Classifier-free guidance around the UNet, as A1111's CFGDenoiser does it.

One call = one model evaluation of every image: its positive parts (AND) and its negative prompt. Each image is
its own UNet batch (A1111 batches all images together; the UNet is not batch-invariant to the last bit on CPU,
so this is what makes an image byte-identical alone or at any position of a batch). The
prompt schedule advances per call (`step` counts calls, so second-order samplers, which call twice per step, move
through `[a:b:0.5]` on a schedule of twice the steps, like A1111). Cond and uncond run in one UNet batch when their
token lengths match, otherwise in two (A1111's default, no padding). Guidance combines the model outputs:
`uncond + sum(weight * scale * (cond - uncond))`; on denoised latents for the k-diffusion samplers, on eps for the
timestep samplers. Inpainting blends with the original latents after each call (k-diffusion) or before it
(timestep samplers), as A1111. Inpainting checkpoints get their image conditioning (mask + masked-image latents)
concatenated to the scaled latents inside the UNet call, the same for cond and uncond (A1111's `c_concat`). UNet
patches (modules/engine/unet_patches.py) see every UNet call (before that concatenation) with the rows' image and
cond/uncond marks, and may add UNet inputs (ControlNet residuals).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from modules.engine.unet_patches import SamplingProgress, UNetCall, UNetPatch, collect
from modules.step_control import StepControl


class SamplingInterrupted(Exception):
    """Raised inside a model call when the job is interrupted or skipped; the sampler returns its last latent."""


@dataclass
class Cond:
    """One encoded prompt: `hidden` (L, D) token states; `pooled` (P,) for SDXL, else None."""

    hidden: torch.Tensor
    pooled: torch.Tensor | None = None


@dataclass
class StepConds:
    """Conditioning for one model call: per image, the negative prompt and the weighted positive sub-prompts."""

    uncond: list[Cond]
    conds: list[list[tuple[Cond, float]]]


@dataclass
class MaskBlend:
    """Inpainting: keep the original latents where `keep` is 1 (A1111's p.mask; p.nmask = 1 - keep). `blend`
    replaces the linear mix when set (soft inpainting): (current, original, nmask, sigma) -> latents, and then
    the final blend after sampling is left out, as A1111's `on_mask_blend` does."""

    init_latents: torch.Tensor
    noise: torch.Tensor | None  # unused by A1111's blend; kept for callers that have it
    keep: torch.Tensor  # (B, 1, h, w)
    blend: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None


class UNetConds(NamedTuple):
    """The conditioning of one UNet call: stacked hidden states and pooled vectors, plus which batch image the
    rows belong to and which rows are the negative prompt (for UNet patches)."""

    hidden: torch.Tensor
    pooled: torch.Tensor | None
    image: int = 0
    uncond: tuple[bool, ...] = ()
    concat: torch.Tensor | None = None  # (rows, 5, h, w): a 9-channel UNet's mask + masked-image latents


def stack_conds(conds: list[Cond]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Stack hidden states (shorter ones repeat their last vector, A1111 `stack_conds`) and pooled vectors."""
    length = max(c.hidden.shape[0] for c in conds)
    hidden = torch.stack([c.hidden if c.hidden.shape[0] == length
                          else torch.cat([c.hidden, c.hidden[-1:].repeat(length - c.hidden.shape[0], 1)])
                          for c in conds])
    pooled = torch.stack([c.pooled for c in conds]) if conds[0].pooled is not None else None
    return hidden, pooled


class UNetRunner:
    """Calls the diffusers UNet with A1111's conditioning (hidden states, and SDXL's pooled + size ids), plus
    what the UNet patches add; `progress` is the sampler position the patches are told."""

    def __init__(self, unet: torch.nn.Module, time_ids: torch.Tensor | None, patches: Sequence[UNetPatch] = (),
                 progress: SamplingProgress | None = None):
        self.unet = unet
        self.dtype = next(unet.parameters()).dtype
        self.time_ids = time_ids
        self.patches = list(patches)
        self.progress = progress or SamplingProgress()

    def __call__(self, x: torch.Tensor, t: torch.Tensor, cond: UNetConds) -> torch.Tensor:
        hidden, pooled = cond.hidden, cond.pooled
        extra = {}
        if pooled is not None:
            ids = self.time_ids.to(x.device).unsqueeze(0).repeat(x.shape[0], 1)
            extra["added_cond_kwargs"] = {"text_embeds": pooled.to(x.device, self.dtype), "time_ids": ids.to(self.dtype)}
        t = t.reshape(-1).expand(x.shape[0]) if t.numel() == 1 else t
        x, t, hidden = x.to(self.dtype), t.to(x.device), hidden.to(x.device, self.dtype)
        if self.patches:
            call = UNetCall(x=x, timestep=t, encoder_hidden_states=hidden,
                            added_cond_kwargs=extra.get("added_cond_kwargs"),
                            uncond=cond.uncond or (False,) * x.shape[0], image_index=cond.image,
                            sampling_step=self.progress.step, sampling_steps=self.progress.total)
            extra.update(collect(self.patches, call))
            hidden = extra.pop("encoder_hidden_states", hidden)
            extra = {k: _unet_dtype(v, self.dtype) for k, v in extra.items()}
        if cond.concat is not None:
            x = torch.cat([x, cond.concat.to(x.device, self.dtype)], dim=1)
        return self.unet(x, t, encoder_hidden_states=hidden, **extra).sample.float()


def _unet_dtype(value, dtype: torch.dtype):
    """Patch outputs (tensors, tuples of tensors) in the UNet's dtype."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype)
    if isinstance(value, (tuple, list)):
        return type(value)(_unet_dtype(v, dtype) for v in value)
    return value


class TimestepsModel:
    """The timestep samplers' inner model: UNet output as eps (v converted with the integer timestep)."""

    def __init__(self, unet: UNetRunner, alphas_cumprod: torch.Tensor, prediction_type: str):
        self.unet = unet
        self.alphas_cumprod = alphas_cumprod
        self.v_prediction = prediction_type == "v_prediction"

    def __call__(self, x: torch.Tensor, t: torch.Tensor, cond) -> torch.Tensor:
        out = self.unet(x, t, cond)
        if not self.v_prediction:
            return out
        a = self.alphas_cumprod.to(x.device)[t.to(torch.int)].reshape(-1, 1, 1, 1)
        return a.sqrt() * out + (1 - a).sqrt() * x


class CFGDenoiser:
    """`(x, sigma_or_t) -> guided output` for a batch; see the module docstring."""

    def __init__(self, inner: Callable, conds_at: Callable[[int], StepConds], cfg_scale: float,
                 control: StepControl, *, timesteps: bool = False, mask: MaskBlend | None = None,
                 alphas_cumprod: torch.Tensor | None = None, cond_scale_multiplier: float = 1.0,
                 image_cond: torch.Tensor | None = None):
        self.inner = inner
        self.image_cond = image_cond
        self.conds_at = conds_at
        self.cfg_scale = cfg_scale
        self.control = control
        self.timesteps = timesteps
        self.mask = mask
        self.alphas_cumprod = alphas_cumprod
        self.cond_scale_multiplier = cond_scale_multiplier
        self.step = 0
        self.last_latent: torch.Tensor | None = None
        self.last_noise_uncond: torch.Tensor | None = None

    def _blend(self, latent: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        keep = self.mask.keep
        if self.mask.blend is not None:
            return self.mask.blend(latent, self.mask.init_latents, 1 - keep, sigma)
        return latent * (1 - keep) + self.mask.init_latents * keep

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if self.control.stop_requested():
            raise SamplingInterrupted
        sc = self.conds_at(self.step)
        sigma = torch.as_tensor(sigma, device=x.device).reshape(-1)
        if self.timesteps and self.mask is not None:
            x = self._blend(x, sigma)
        out_cond, out_uncond = [], []
        for i, parts in enumerate(sc.conds):
            concat = self.image_cond[i:i + 1] if self.image_cond is not None else None
            c, u = self._image(x[i:i + 1], sigma, [cond for cond, _ in parts], sc.uncond[i], i, concat)
            out_cond.append(c)
            out_uncond.append(u)
        out_uncond_t = torch.cat(out_uncond)
        scale = self.cfg_scale * self.cond_scale_multiplier
        guided = out_uncond_t.clone()
        for i, parts in enumerate(sc.conds):
            for k, (_, weight) in enumerate(parts):
                guided[i] += (out_cond[i][k] - out_uncond_t[i]) * (weight * scale)
        self.last_noise_uncond = out_uncond_t
        if not self.timesteps and self.mask is not None:
            guided = self._blend(guided, sigma)
        self.last_latent = self._pred_x0(x, guided, sigma)
        self.step += 1
        return guided

    def _image(self, x: torch.Tensor, sigma: torch.Tensor, conds: list[Cond], uncond: Cond, index: int,
               concat: torch.Tensor | None = None):
        """One image's conds and uncond: one UNet call when their token lengths match, else two (A1111)."""
        cond_hidden, cond_pooled = stack_conds(conds)
        uncond_hidden, uncond_pooled = stack_conds([uncond])
        x_cond = x.repeat(len(conds), 1, 1, 1)
        n = len(conds)

        def repeat(rows: int) -> torch.Tensor | None:
            return None if concat is None else concat.repeat(rows, 1, 1, 1)

        if cond_hidden.shape[1] != uncond_hidden.shape[1]:
            return (self._inner(x_cond, sigma, UNetConds(cond_hidden, cond_pooled, index, (False,) * n, repeat(n))),
                    self._inner(x, sigma, UNetConds(uncond_hidden, uncond_pooled, index, (True,), concat)))
        pooled = None if cond_pooled is None else torch.cat([cond_pooled, uncond_pooled])
        out = self._inner(torch.cat([x_cond, x]), sigma,
                          UNetConds(torch.cat([cond_hidden, uncond_hidden]), pooled, index, (False,) * n + (True,),
                                    repeat(n + 1)))
        return out[:n], out[n:]

    def _inner(self, x: torch.Tensor, sigma: torch.Tensor, cond) -> torch.Tensor:
        return self.inner(x, sigma.expand(x.shape[0]), cond)

    def _pred_x0(self, x: torch.Tensor, out: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if not self.timesteps:
            return out
        a = self.alphas_cumprod.to(x.device)[sigma.to(torch.int)].reshape(-1, 1, 1, 1)
        return (x - (1 - a).sqrt() * out) / a.sqrt()


__all__ = ["CFGDenoiser", "Cond", "MaskBlend", "SamplingInterrupted", "StepConds", "TimestepsModel",
           "UNetConds", "UNetRunner", "stack_conds"]
