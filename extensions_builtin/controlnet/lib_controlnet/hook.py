"""The UNet patch that adds the ControlNet residuals (modules/engine/unet_patches.py), with the extension's
semantics:

- guidance window: a unit acts while `sampling_step / sampling_steps` lies in [guidance_start, guidance_end]
  (A1111's state.sampling_step is the last step the sampler reported);
- weights: "Balanced" scales every residual by `weight`; "My prompt is more important" and "ControlNet is more
  important" use the soft weights `weight * 0.825 ** (12 - i)` (i = 0 for the first down residual, 12 for the
  middle one; SDXL keeps the first 10); in the hires pass canny and mlsd maps always get the soft weights;
  `advanced_weighting` replaces the weights;
- "ControlNet is more important" (and shuffle models' global average pooling) add the residuals to the prompt
  rows only, not to the negative prompt's (the uncond half of CFG);
- several units: their residuals add up;
- hr_option: "Low res only" / "High res only" keep a unit out of the hires pass / the first pass.
A unit with all weights 0, or outside its window, is not run at all; with no unit active the UNet is called
exactly as without ControlNet. The hint's embedding (the ControlNet's full-resolution convolutions) does not
change during sampling: it is computed once per hint and size, not at every call.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from modules.engine.unet_patches import UNetCall
from modules.errors import InvalidRequestError

SOFT_BASE = 0.825


@dataclass
class ActiveUnit:
    index: int  # the unit's position in the request (for error messages)
    model: object  # lib_controlnet.loader.LoadedControlNet
    hint: torch.Tensor  # (images, 3, H, W): 0..1, inpaint hints -1 where masked
    hr_hint: torch.Tensor | None
    weight: float
    guidance_start: float
    guidance_end: float
    soft: bool  # control mode other than Balanced
    prompt_rows_only: bool  # "ControlNet is more important" or global average pooling
    soft_in_hires: bool
    hr_option: str = "Both"
    advanced_weighting: list[float] | None = None
    _sized: dict = field(default_factory=dict)

    def scales(self, count: int, sdxl: bool, high_res: bool) -> list[float]:
        if self.advanced_weighting is not None:
            if len(self.advanced_weighting) != count:
                raise InvalidRequestError(
                    f"alwayson_scripts.controlnet.args[{self.index}].advanced_weighting: this model takes {count} "
                    f"weights ({'SDXL' if sdxl else 'SD1.x/SD2.x'}: one per down block output and the middle block), "
                    f"got {len(self.advanced_weighting)}", field=f"alwayson_scripts.controlnet.args[{self.index}]"
                                                               ".advanced_weighting")
            return list(self.advanced_weighting)
        if self.soft or (high_res and self.soft_in_hires):
            soft = [self.weight * SOFT_BASE ** float(12 - i) for i in range(13)]
            return soft[:count] if len(soft) >= count else soft + [self.weight] * (count - len(soft))
        return [self.weight] * count

    def active(self, call: UNetCall, high_res: bool) -> bool:
        if (self.hr_option == "Low res only" and high_res) or (self.hr_option == "High res only" and not high_res):
            return False
        if self.advanced_weighting is None and self.weight == 0:
            return False
        if self.advanced_weighting is not None and not any(self.advanced_weighting):
            return False
        percent = call.sampling_step / max(call.sampling_steps, 1)
        return self.guidance_start <= percent <= self.guidance_end

    def hint_for(self, call: UNetCall, high_res: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(the hint of this call's image at 8x the latent size, its embedding), each one row."""
        source = self.hr_hint if high_res and self.hr_hint is not None else self.hint
        index = call.image_index % source.shape[0]
        size = (call.x.shape[2] * 8, call.x.shape[3] * 8)
        key = (high_res, index, size, call.x.dtype, call.x.device)
        found = self._sized.get(key)
        if found is None:
            image = source[index:index + 1]
            if tuple(image.shape[2:]) != size:
                image = F.interpolate(image, size=size, mode="bilinear", align_corners=False)
            image = image.to(call.x.device, call.x.dtype)
            embedding = self.model.model.controlnet_cond_embedding(image)
            found = self._sized[key] = (image, embedding)
        return found


class ControlNetPatch:
    """One patch for all units of a generation; `high_res` is switched by the script around the hires pass."""

    def __init__(self, units: list[ActiveUnit]):
        self.units = units
        self.high_res = False

    def __call__(self, call: UNetCall) -> dict | None:
        total: list[torch.Tensor] | None = None
        prompt_rows = torch.tensor([0.0 if u else 1.0 for u in call.uncond], device=call.x.device,
                                   dtype=call.x.dtype).reshape(-1, 1, 1, 1)
        with _lock:  # a cached model may serve several workers; see _precomputed
            for unit in self.units:
                if unit.active(call, self.high_res):
                    total = self._add(unit, call, prompt_rows, total)
        if total is None:
            return None
        return {"down_block_additional_residuals": tuple(total[:-1]), "mid_block_additional_residual": total[-1]}

    def _add(self, unit: ActiveUnit, call: UNetCall, prompt_rows: torch.Tensor,
             total: list[torch.Tensor] | None) -> list[torch.Tensor]:
        """`total` plus this unit's scaled residuals (down block outputs, then the middle one)."""
        net = unit.model.model
        x = call.x[:, :net.config.in_channels]  # 9-channel inpainting UNets: the ControlNet sees the latents
        kwargs = {"added_cond_kwargs": call.added_cond_kwargs} if call.added_cond_kwargs is not None else {}
        hint, embedding = unit.hint_for(call, self.high_res)
        rows = x.shape[0]
        with _precomputed(net, embedding.expand(rows, -1, -1, -1)):
            down, mid = net(x, call.timestep, encoder_hidden_states=call.encoder_hidden_states,
                            controlnet_cond=hint.expand(rows, -1, -1, -1), conditioning_scale=1.0,
                            return_dict=False, **kwargs)
        residuals = [*down, mid]
        scales = unit.scales(len(residuals), call.added_cond_kwargs is not None, self.high_res)
        pooled = unit.model.global_average_pooling
        out = []
        for residual, scale in zip(residuals, scales):
            residual = residual * scale
            if unit.prompt_rows_only or pooled:
                residual = residual * prompt_rows
            if pooled:
                residual = residual.mean(dim=(2, 3), keepdim=True)
            out.append(residual)
        return out if total is None else [a + b for a, b in zip(total, out)]


_lock = threading.Lock()


class _precomputed:
    """Within the block, the ControlNet's hint encoder answers `embedding` (computed once per hint) instead of
    running. Used under `_lock`: a cached model may serve several workers."""

    def __init__(self, net: torch.nn.Module, embedding: torch.Tensor):
        self.module = net.controlnet_cond_embedding
        self.embedding = embedding

    def __enter__(self) -> None:
        module, embedding = self.module, self.embedding
        module.forward = lambda _cond: embedding  # an instance attribute: nn.Module.__call__ uses it

    def __exit__(self, *_exc) -> None:
        del self.module.forward  # back to the class's forward


def hint_tensor(maps: list, device: torch.device) -> torch.Tensor:
    """Fitted maps (HWC float/uint8, 0..255) -> (n, 3, H, W) 0..1; RGBA (inpaint) maps become colour with -1
    where the mask is set (the ControlNet inpaint protocol)."""
    import numpy as np

    batch = torch.from_numpy(np.stack([m.astype(np.float32) for m in maps])).permute(0, 3, 1, 2) / 255.0
    if batch.shape[1] == 4:
        colour, mask = batch[:, :3], (batch[:, 3:4] > 0.5).float()
        batch = colour * (1 - mask) - mask
    return batch.to(device)
