"""Seeds, batch positions, variation seeds, ENSD, img2img, hires, prompt-schedule pacing, emphasis and repeat
determinism, each against the k-diffusion reference of test_a1111_reference (or Easel itself where A1111 defines
the result by equality)."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from PIL import Image

from modules.engine import hires, rng_philox, samplers
from modules.step_control import StepControl
from tests.engine import kdiffusion_reference as ref
from tests.engine.test_a1111_reference import max_diff, reference_images, reference_latents


@contextlib.contextmanager
def option(engine, key, value):
    before = engine.options.get(key)
    engine.options.set(key, value)
    try:
        yield
    finally:
        engine.options.set(key, before)


@pytest.mark.parametrize("sampler", ["Euler a", "DPM++ SDE", "DPM++ 2M SDE"])
def test_batch_matches_reference_and_does_not_depend_on_position(sd1, sampler):
    batch, _ = sd1.run(sampler_name=sampler, seed=100, batch_size=3)
    assert max_diff(batch, reference_images(sd1, sampler, "automatic", seeds=(100, 101, 102))) <= 1
    alone, _ = sd1.run(sampler_name=sampler, seed=101)
    assert np.array_equal(alone[0], batch[1])
    assert not np.array_equal(batch[0], batch[1])


def test_variation_seed_matches_reference(sd1):
    images, result = sd1.run(sampler_name="Euler a", seed=3, subseed=11, subseed_strength=0.3)
    shape = (4, 8, 8)
    first = ref.slerp(0.3, torch.randn(shape, generator=torch.Generator().manual_seed(3)),
                      torch.randn(shape, generator=torch.Generator().manual_seed(11)))[None]
    assert max_diff(images, reference_images(sd1, "Euler a", "automatic", seeds=(3,), first_noise=first)) <= 1
    assert "Variation seed: 11" in result.infotexts[0]


def test_eta_noise_seed_delta_reseeds_the_ancestral_noise(sd1):
    with option(sd1, "eta_noise_seed_delta", 31337):
        images, result = sd1.run(sampler_name="Euler a", seed=5)
        _, euler = sd1.run(sampler_name="Euler", seed=5)
    assert max_diff(images, reference_images(sd1, "Euler a", "automatic", seeds=(5,), ensd=31337)) <= 1
    plain, _ = sd1.run(sampler_name="Euler a", seed=5)
    assert not np.array_equal(plain[0], images[0])
    assert "ENSD: 31337" in result.infotexts[0] and "ENSD" not in euler.infotexts[0]  # A1111: uses_ensd samplers


def test_second_order_samplers_advance_the_prompt_schedule_per_model_call(sd1):
    # Heun, 4 steps: A1111 plans the schedule for 8 model calls, so [a cat:a dog:0.5] switches after call 4
    images, _ = sd1.run(sampler_name="Heun", steps=4, prompt="[a cat:a dog:0.5]")
    paced = reference_images(sd1, "Heun", "automatic", steps=4, prompt=[(4, "a cat"), (10 ** 9, "a dog")])
    assert max_diff(images, paced) <= 1
    per_step = reference_images(sd1, "Heun", "automatic", steps=4, prompt=[(2, "a cat"), (10 ** 9, "a dog")])
    assert max_diff(images, per_step) > 1  # the test can tell the two pacings apart


def _init_image() -> Image.Image:
    y, x = np.mgrid[0:16, 0:16]
    return Image.fromarray(np.stack([x * 16, y * 16, (x + y) * 8], axis=-1).astype(np.uint8))


@pytest.mark.parametrize("sampler, denoising", [("Euler a", 0.6), ("DPM++ 2M", 1.0), ("DPM++ SDE", 0.3)])
def test_img2img_truncates_the_schedule_as_a1111(sd1, sampler, denoising):
    image = _init_image()
    images, _ = sd1.run(mode="img2img", init_images=[image], sampler_name=sampler, steps=5,
                        denoising_strength=denoising)
    init = hires.encode_images(sd1.pipe, [image], torch.device("cpu"))
    expected = reference_images(sd1, sampler, "automatic", steps=5, init_latents=init, denoising=denoising)
    assert max_diff(images, expected) <= 1


def test_hires_second_pass_matches_reference(sd1):
    images, _ = sd1.run(sampler_name="Euler a", steps=3, enable_hr=True, hr_scale=2.0, hr_upscaler="Latent",
                        denoising_strength=0.5, hr_second_pass_steps=3)
    first = reference_latents(sd1, "Euler a", "automatic", steps=3)
    upscaled = torch.nn.functional.interpolate(first, size=(16, 16), mode="bilinear", antialias=False)
    second = reference_latents(sd1, "Euler a", "automatic", steps=3, size=32, init_latents=upscaled, denoising=0.5,
                               fixed_steps=True)
    assert max_diff(images, ref.decode(sd1.pipe.vae, second)) <= 1


def test_equal_weight_runs_merge_before_tokenizing(sd1):
    from modules.engine.cond_builder import ConditioningBuilder

    encoder = ConditioningBuilder.for_pipe(sd1.pipe, sd1.family, sd1.options).encoder
    merged, plain = encoder.tokenize(["a (cat:1.0) sitting on a chair", "a cat sitting on a chair"])
    assert [(c.tokens, c.multipliers) for c in merged] == [(c.tokens, c.multipliers) for c in plain]
    # whole pictures (a prompt whose random-weight encoding stays finite under "Original" emphasis)
    assert torch.isfinite(encoder.encode("a cat on a chair").hidden).all()
    merged_image, _ = sd1.run(prompt="a (cat:1.0) on a chair")
    plain_image, _ = sd1.run(prompt="a cat on a chair")
    weighted_image, _ = sd1.run(prompt="a (cat:1.3) on a chair")
    assert np.array_equal(merged_image[0], plain_image[0])
    assert not np.array_equal(weighted_image[0], plain_image[0])


@pytest.mark.parametrize("sampler", samplers.sampler_names())
def test_every_sampler_repeats_byte_for_byte(sd1, sampler):
    first, _ = sd1.run(sampler_name=sampler, seed=21, batch_size=2)
    again, _ = sd1.run(sampler_name=sampler, seed=21, batch_size=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    if sampler == "DPM adaptive":
        return  # its step sizes come from an error norm over the whole batch (k-diffusion, A1111 alike)
    second_alone, _ = sd1.run(sampler_name=sampler, seed=22)
    assert np.array_equal(second_alone[0], first[1])  # batch position does not matter, to the byte


def test_interrupt_returns_the_last_prediction(sd1):
    control = StepControl()

    def on_step(i, total, _latents):
        control.interrupted = True

    control.on_step = on_step
    images, result = sd1.run(sampler_name="Euler a", steps=5, control=control)
    assert result.interrupted and len(images) == 1


def test_nv_source_gives_cudas_numbers():
    # torch.randn(5, generator=torch.Generator("cuda").manual_seed(0), device="cuda") on NVIDIA GPUs
    values = rng_philox.Generator(0).randn((5,))
    assert np.allclose(values, [-0.9247, -0.4253, -2.6438, 0.1452, -0.1209], atol=1e-4)


def test_randn_source_reaches_the_infotext(sd1):
    _, cpu = sd1.run()
    with option(sd1, "randn_source", "NV"):
        nv, nv_result = sd1.run()
    plain, _ = sd1.run()
    assert "RNG: CPU" in cpu.infotexts[0] and "RNG: NV" in nv_result.infotexts[0]
    assert not np.array_equal(nv[0], plain[0])
