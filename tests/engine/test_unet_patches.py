"""The UNet patch hook (modules/engine/unet_patches.py): what patches see, and how their extra inputs reach the UNet."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from modules.engine.unet_patches import UNetCall, collect


class Recorder:
    """A patch that records every call and adds `scale` times a fixed random tensor to the mid-block output (or
    nothing when scale is 0; a constant would vanish in the next GroupNorm)."""

    def __init__(self, scale: float = 0.0):
        self.scale = scale
        self.calls: list[UNetCall] = []

    def __call__(self, call: UNetCall):
        self.calls.append(call)
        if not self.scale:
            return None
        rows, _, h, w = call.x.shape
        fixed = torch.randn((1, 64, h // 2, w // 2), generator=torch.Generator().manual_seed(0))
        # diffusers uses the mid residual only together with the down ones (the tiny UNet's six: zeros here)
        down = tuple(torch.zeros(rows, c, h // f, w // f) for c, f in ((32, 1),) * 3 + ((32, 2), (64, 2), (64, 2)))
        return {"down_block_additional_residuals": down,
                "mid_block_additional_residual": (fixed * self.scale).expand(rows, -1, -1, -1).to(call.x.dtype)}


def run(engine, patches, **fields):
    from modules.processing import GenerationRequest
    from modules.step_control import StepControl

    p = GenerationRequest(**{"prompt": "a cat", "negative_prompt": "ugly", "seed": 7, "steps": 4, "width": 16,
                             "height": 16, "cfg_scale": 5.0, "sampler_name": "Euler", **fields})
    p.unet_patches = list(patches)
    result = engine.generator.run(p, engine.model, StepControl())
    return [np.asarray(image, dtype=np.int16) for image in result.images]


def test_a_patch_that_adds_nothing_leaves_the_images_exactly_as_they_were(sd1):
    plain = run(sd1, [])
    recorder = Recorder()
    assert all(np.array_equal(a, b) for a, b in zip(plain, run(sd1, [recorder])))
    assert recorder.calls  # it was called


def test_what_a_patch_sees_per_call(sd1):
    recorder = Recorder()
    run(sd1, [recorder], batch_size=2)
    first = recorder.calls[0]
    assert first.x.shape[0] == 2 and first.uncond == (False, True)  # the image's prompt row, then its negative
    assert first.encoder_hidden_states.shape[0] == 2 and first.added_cond_kwargs is None
    assert [c.image_index for c in recorder.calls[:2]] == [0, 1]  # one UNet batch per image
    # A1111's state.sampling_step: 0 until the sampler's first report, then the last reported step
    assert [c.sampling_step for c in recorder.calls[::2]] == [0, 0, 1, 2]
    assert {c.sampling_steps for c in recorder.calls} == {4}


def test_img2img_counts_the_steps_it_runs(sd1):
    from PIL import Image

    recorder = Recorder()
    run(sd1, [recorder], mode="img2img", init_images=[Image.new("RGB", (16, 16), "red")], denoising_strength=0.5,
        steps=8)
    assert {c.sampling_steps for c in recorder.calls} == {5}  # t_enc + 1, as A1111's launch_sampling
    assert [c.sampling_step for c in recorder.calls] == [0, 0, 1, 2, 3]


def test_extra_inputs_reach_the_unet_and_patches_add_up(sd1):
    plain = run(sd1, [])
    one = run(sd1, [Recorder(2.0)])
    two = run(sd1, [Recorder(1.0), Recorder(1.0)])
    assert np.abs(plain[0] - one[0]).max() > 0
    assert np.abs(one[0] - two[0]).max() <= 1  # r + r == 2r (to float rounding)


def test_sdxl_calls_carry_the_added_conditioning(sdxl):
    recorder = Recorder()
    run(sdxl, [recorder])
    added = recorder.calls[0].added_cond_kwargs
    assert set(added) == {"text_embeds", "time_ids"} and added["time_ids"].shape[0] == 2


@pytest.mark.parametrize("a, b, expected", [
    (torch.ones(2), torch.ones(2), torch.full((2,), 2.0)),
    ((torch.ones(1), torch.zeros(1)), (torch.ones(1), torch.ones(1)), (torch.full((1,), 2.0), torch.ones(1))),
])
def test_collect_adds_tensors_and_tuples_of_tensors(a, b, expected):
    merged = collect([lambda _c: {"k": a}, lambda _c: {"k": b}], None)["k"]
    if isinstance(expected, tuple):
        assert all(torch.equal(m, e) for m, e in zip(merged, expected))
    else:
        assert torch.equal(merged, expected)
    assert collect([lambda _c: {"k": 1}, lambda _c: {"k": 2}], None) == {"k": 2}  # other values: the last wins
