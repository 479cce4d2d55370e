"""Inpainting as A1111 1.10 does it: masks, "Only masked", the masked-content modes, latent upscale, noise multiplier,
and 9-channel inpainting checkpoints (tiny SD1 and SDXL ones) with their masked-image conditioning."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modules import images as image_utils
from modules.engine import img2img, inpaint_cond, masking
from modules.engine.noise import ImageRNG, RandomSource
from modules.processing import GenerationRequest
from tests.engine.conftest import Engine

MASK_BOX = (20, 10, 40, 30)


def picture(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    rng = np.random.RandomState(seed)
    base = np.linspace(0, 255, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 3), np.float32)
    return Image.fromarray(np.clip(base * 0.7 + rng.rand(height, width, 3) * 70, 0, 255).astype(np.uint8))


def box_mask(size=(64, 48), box=MASK_BOX) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def request(**fields) -> GenerationRequest:
    defaults = dict(mode="img2img", prompt="a cat", negative_prompt="ugly", seed=3, steps=3, width=32, height=32,
                    cfg_scale=5.0, denoising_strength=0.8, init_images=[picture()])
    p = GenerationRequest(**{**defaults, **fields})
    p.seeds = p.all_seeds = [p.seed]
    return p


def run(engine: Engine, **fields):
    images, result = engine.run(**{"mode": "img2img", "init_images": [picture()], "denoising_strength": 0.8,
                                   "width": 32, "height": 32, **fields})
    return images[0], result


@pytest.fixture(scope="module")
def sd1_inpaint(tmp_path_factory):
    return Engine("sd1", tmp_path_factory.mktemp("engine-sd1-inpaint"), inpainting=True)


@pytest.fixture(scope="module")
def sdxl_inpaint(tmp_path_factory):
    return Engine("sdxl", tmp_path_factory.mktemp("engine-sdxl-inpaint"), inpainting=True)


# -- masks ------------------------------------------------------------------------------------------------------------
def test_crop_region_pads_and_expands_to_the_processing_ratio():
    mask = box_mask((512, 512), (100, 200, 227, 231))  # 128 x 32 pixels
    assert masking.crop_region(mask) == (100, 200, 228, 232)
    assert masking.crop_region(mask, 10) == (90, 190, 238, 242)
    assert masking.expand_crop_region((100, 200, 228, 232), 512, 512, 512, 512) == (100, 152, 228, 280)
    # grown past the top edge: shifted down, as A1111
    assert masking.expand_crop_region((100, 0, 228, 32), 512, 512, 512, 512) == (100, 0, 228, 128)
    assert masking.crop_region(Image.new("L", (64, 64), 0)) is None


def test_binary_mask_takes_the_alpha_channel_of_a_transparent_mask():
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    rgba.paste((10, 20, 30, 200), (2, 2, 6, 6))
    rounded = np.asarray(masking.binary_mask(rgba, True))
    assert rounded[3, 3] == 255 and rounded[0, 0] == 0
    assert np.asarray(masking.binary_mask(rgba, False))[3, 3] == 200
    opaque = Image.new("RGBA", (8, 8), (255, 255, 255, 255))
    assert np.asarray(masking.binary_mask(opaque, True))[0, 0] == 255  # no transparency: the greyscale


def test_mask_blur_x_and_y_are_separate():
    mask = Image.new("L", (41, 41), 0)
    mask.paste(255, (20, 0, 21, 41))  # one vertical line
    only_x = np.asarray(masking.blur_mask(mask, 4, 0), dtype=np.int32)
    assert (only_x == only_x[0]).all()  # blurring across columns only: every row is the same
    assert only_x[0, 20] < 255 and only_x[0, 15] > 0 and only_x[0, 5] == 0
    assert (np.asarray(masking.blur_mask(mask, 0, 4)) == np.asarray(mask)).all()  # a vertical line survives a y blur


def test_fill_paints_the_masked_area_and_keeps_the_rest():
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    image.paste((30, 30, 200), (32, 0, 64, 48))
    mask = box_mask()
    filled = np.asarray(masking.fill(image, mask), dtype=np.int32)
    original = np.asarray(image, dtype=np.int32)
    outside = np.asarray(mask) == 0
    assert (filled[outside] == original[outside]).all()
    inside = filled[12:28, 22:38]
    assert inside.min() > 20  # painted with the surroundings, not left black
    assert inside[:, :4, 0].mean() > inside[:, -4:, 0].mean()  # reddish towards the red side


# -- masked content: the initial latents ---------------------------------------------------------------------------
def _encode(pipe, image: Image.Image) -> torch.Tensor:
    return inpaint_cond.encode(pipe, inpaint_cond.images_to_pixels([image]))


@pytest.mark.parametrize("fill", [0, 1, 2, 3])
def test_each_masked_content_mode_gives_its_initial_latents(sd1, fill):
    p = request(mask=box_mask(), inpaint_full_res=False, mask_blur_x=0, mask_blur_y=0, inpainting_fill=fill)
    prepared = img2img.prepare(p, sd1.pipe, sd1.options, 1, RandomSource())
    resized = image_utils.resize_image(0, picture(), 32, 32, upscaler_name=None)
    resized_mask = image_utils.resize_image(0, box_mask(), 32, 32, upscaler_name=None)
    original = _encode(sd1.pipe, resized)
    filled = _encode(sd1.pipe, masking.fill(resized, resized_mask))  # A1111 fills for every mode but "original"
    keep = prepared.latent_keep
    assert set(keep.unique().tolist()) == {0.0, 1.0}  # mask_round: a binary latent mask
    latents = prepared.init_latents
    if fill == 0:
        assert torch.equal(latents, filled)
        assert p.extra_generation_params["Masked content"] == "fill"
    elif fill == 1:
        assert torch.equal(latents, original)
        assert "Masked content" not in p.extra_generation_params
    else:
        assert torch.equal(latents * keep, filled * keep)
        inside = (keep == 0).expand_as(latents)
        if fill == 2:  # the noise of the first batch's seeds
            noise = ImageRNG(tuple(latents.shape[1:]), [3]).next()
            assert torch.equal(latents[inside], noise[inside])
            assert p.extra_generation_params["Masked content"] == "latent noise"
        else:
            assert (latents[inside] == 0).all()
            assert p.extra_generation_params["Masked content"] == "latent nothing"


def test_mask_round_off_keeps_a_soft_latent_mask(sd1):
    soft = img2img.prepare(request(mask=box_mask(), inpaint_full_res=False, mask_round=False, mask_blur_x=8,
                                   mask_blur_y=8), sd1.pipe, sd1.options, 1)
    values = soft.latent_keep.unique()
    assert ((values > 0) & (values < 1)).any()


def test_latent_upscale_resize_mode_resizes_the_latents(sd1):
    p = request(resize_mode=3)
    prepared = img2img.prepare(p, sd1.pipe, sd1.options, 1)
    factor = sd1.pipe.vae_scale_factor
    expected = torch.nn.functional.interpolate(_encode(sd1.pipe, picture()), size=(32 // factor, 32 // factor),
                                               mode="bilinear")
    assert torch.equal(prepared.init_latents, expected)
    image, _ = run(sd1, resize_mode=3)
    assert image.shape == (32, 32, 3)


# -- whole picture and "Only masked" ----------------------------------------------------------------------------------
def test_only_masked_keeps_every_pixel_outside_the_mask_and_the_original_size(sd1):
    image, result = run(sd1, mask=box_mask(), inpaint_full_res=True, inpainting_fill=1)
    original = np.asarray(picture())
    assert image.shape == original.shape  # pasted back into the 64x48 original
    blurred = np.asarray(masking.blur_mask(box_mask(), 4, 4))
    untouched = blurred == 0
    assert np.array_equal(image[untouched], original[untouched])
    assert not np.array_equal(image[12:28, 22:38], original[12:28, 22:38])
    text = result.infotexts[0]
    assert "Inpaint area: Only masked" in text and "Masked area padding: 0" in text and "Mask blur: 4" in text


def test_only_masked_padding_changes_the_crop(sd1):
    tight, _ = run(sd1, mask=box_mask(), inpaint_full_res=True, inpainting_fill=1)
    padded, result = run(sd1, mask=box_mask(), inpaint_full_res=True, inpainting_fill=1, inpaint_full_res_padding=8)
    assert "Masked area padding: 8" in result.infotexts[0]
    assert not np.array_equal(tight, padded)


def test_only_masked_with_a_blank_mask_is_plain_img2img(sd1):
    images, result = sd1.run(mode="img2img", init_images=[picture()], denoising_strength=0.8, width=32, height=32,
                             mask=Image.new("L", (64, 48), 0), inpaint_full_res=True, n_iter=2)
    plain, _ = sd1.run(mode="img2img", init_images=[picture()], denoising_strength=0.8, width=32, height=32, n_iter=2)
    assert np.array_equal(images[0], plain[0]) and np.array_equal(images[1], plain[1])  # every batch
    assert any("Inpaint Only mask" in comment for comment in result.info["comments"].splitlines())


def test_whole_picture_keeps_the_pixels_the_overlay_mask_leaves(sd1):
    image, result = run(sd1, mask=box_mask(), inpaint_full_res=False, inpainting_fill=1)
    resized = np.asarray(image_utils.resize_image(0, picture(), 32, 32, upscaler_name=None))
    mask = image_utils.resize_image(0, masking.blur_mask(box_mask(), 4, 4), 32, 32, upscaler_name=None)
    untouched = np.asarray(masking.doubled(mask)) == 0
    assert untouched.any() and np.array_equal(image[untouched], resized[untouched])
    assert "Inpaint area" not in result.infotexts[0]


def test_inverted_mask_repaints_the_outside(sd1):
    image, result = run(sd1, mask=box_mask(), inpaint_full_res=False, inpainting_mask_invert=1, inpainting_fill=1,
                        mask_blur_x=0, mask_blur_y=0)
    resized = np.asarray(image_utils.resize_image(0, picture(), 32, 32, upscaler_name=None))
    assert np.array_equal(image[14:16, 14:16], resized[14:16, 14:16])  # the box (scaled) is kept
    assert "Mask mode: Inpaint not masked" in result.infotexts[0]


def test_overlay_inpaint_off_returns_the_raw_result(sd1):
    with_overlay, _ = run(sd1, mask=box_mask(), inpaint_full_res=False)
    sd1.options.data["overlay_inpaint"] = False
    try:
        raw, _ = run(sd1, mask=box_mask(), inpaint_full_res=False)
    finally:
        del sd1.options.data["overlay_inpaint"]
    assert not np.array_equal(with_overlay, raw)


def test_initial_noise_multiplier_scales_the_noise(sd1):
    default, _ = run(sd1)
    scaled, result = run(sd1, initial_noise_multiplier=0.5)
    assert "Noise multiplier: 0.5" in result.infotexts[0]
    assert not np.array_equal(default, scaled)


# -- 9-channel inpainting checkpoints -----------------------------------------------------------------------------------
def test_tiny_inpainting_checkpoints_load_with_nine_input_channels(sd1_inpaint, sdxl_inpaint):
    assert sd1_inpaint.pipe.unet.config.in_channels == 9 and sd1_inpaint.family == "sd1"
    assert sdxl_inpaint.pipe.unet.config.in_channels == 9 and sdxl_inpaint.family == "sdxl"
    assert inpaint_cond.is_inpainting(sd1_inpaint.pipe.unet)
    assert inpaint_cond.latent_channels(sd1_inpaint.pipe) == 4


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_inpainting_checkpoint_generates_txt2img_and_repeats(family, sd1_inpaint, sdxl_inpaint):
    engine = sd1_inpaint if family == "sd1" else sdxl_inpaint
    first, result = engine.run(width=32, height=32)
    again, _ = engine.run(width=32, height=32)
    assert first[0].shape == (32, 32, 3) and np.array_equal(first[0], again[0])
    assert "Conditional mask weight: 1.0" in result.infotexts[0]
    assert result.info["is_using_inpainting_conditioning"] is True


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_inpainting_checkpoint_inpaints_only_the_mask(family, sd1_inpaint, sdxl_inpaint):
    engine = sd1_inpaint if family == "sd1" else sdxl_inpaint
    image, result = run(engine, mask=box_mask(), inpaint_full_res=True, inpainting_fill=1)
    original = np.asarray(picture())
    untouched = np.asarray(masking.blur_mask(box_mask(), 4, 4)) == 0
    assert np.array_equal(image[untouched], original[untouched])
    assert "Conditional mask weight: 1.0" in result.infotexts[0]


def test_masked_image_conditioning_follows_the_mask_weight(sd1_inpaint):
    pipe = sd1_inpaint.pipe
    pixels = inpaint_cond.images_to_pixels([image_utils.resize_image(0, picture(), 32, 32, upscaler_name=None)])
    mask = image_utils.resize_image(0, box_mask(), 32, 32, upscaler_name=None)
    m = inpaint_cond.mask_tensor(mask, True)
    hw = (32 // pipe.vae_scale_factor,) * 2
    full = inpaint_cond.masked_image_conditioning(pipe, pixels, hw, mask, True, 1.0)
    none = inpaint_cond.masked_image_conditioning(pipe, pixels, hw, mask, True, 0.0)
    assert full.shape == (1, 5, *hw)
    assert torch.equal(full[:, :1], torch.nn.functional.interpolate(m, size=hw))
    assert torch.equal(full[:, 1:], inpaint_cond.encode(pipe, pixels * (1 - m)))
    assert torch.equal(none[:, 1:], inpaint_cond.encode(pipe, pixels))
    grey = inpaint_cond.txt2img_conditioning(pipe, 2, 32, 32)
    assert grey.shape == (2, 5, *hw) and (grey[:, 0] == 1).all()


def test_inpainting_mask_weight_changes_the_result(sd1_inpaint):
    full, _ = run(sd1_inpaint, mask=box_mask(), inpaint_full_res=False)
    sd1_inpaint.options.data["inpainting_mask_weight"] = 0.25
    try:
        weak, result = run(sd1_inpaint, mask=box_mask(), inpaint_full_res=False)
    finally:
        del sd1_inpaint.options.data["inpainting_mask_weight"]
    assert "Conditional mask weight: 0.25" in result.infotexts[0]
    assert not np.array_equal(full, weak)


def test_inpainting_checkpoint_hires_fix(sd1_inpaint):
    images, result = sd1_inpaint.run(width=16, height=16, enable_hr=True, hr_scale=2.0, denoising_strength=0.6)
    assert images[0].shape == (32, 32, 3)
    assert "Conditional mask weight" in result.infotexts[0]


# -- soft inpainting ------------------------------------------------------------------------------------------------
def test_latent_blend_ends_and_magnitude():
    from modules.engine.soft_inpainting import SoftInpainting, latent_blend

    settings = SoftInpainting()
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 4, 3, 3, generator=gen), torch.randn(1, 4, 3, 3, generator=gen) * 3
    zero, one = torch.zeros(1, 1, 3, 3), torch.ones(1, 1, 3, 3)
    assert torch.allclose(latent_blend(settings, a, b, zero), a, atol=1e-4)
    assert torch.allclose(latent_blend(settings, a, b, one), b, atol=1e-4)
    half = latent_blend(settings, a, b, one / 2)
    linear = (a + b) / 2  # the magnitude is pulled towards the larger vector's, above the linear mix's
    assert (half.norm(dim=1) >= linear.norm(dim=1) - 1e-5).all()


def test_weighted_histogram_filter_is_a_weighted_percentile_mean():
    from modules.engine.soft_inpainting import gaussian_kernel, weighted_histogram_filter

    kernel = gaussian_kernel(1.5, 2)
    assert kernel.shape == (5, 5) and kernel[2, 2] == pytest.approx(1.0) and kernel.min() >= 0
    flat = np.full((6, 7), 3.0)
    assert np.allclose(weighted_histogram_filter(flat, kernel, 0.25, 0.75), 3.0)
    spike = np.zeros((7, 7))
    spike[3, 3] = 10.0
    top = weighted_histogram_filter(spike, kernel, 0.9, 1.0)  # a near-maximum filter spreads the spike
    assert top[3, 3] == pytest.approx(10.0) and top[3, 4] > 0 and top[0, 0] == 0
    assert weighted_histogram_filter(spike, kernel, 0.25, 0.75)[3, 3] == 0  # a median removes it




def test_soft_inpainting_blends_softly(sd1):
    from modules.engine.soft_inpainting import SoftInpainting

    hard, _ = run(sd1, mask=box_mask(), inpaint_full_res=False, mask_blur_x=8, mask_blur_y=8)
    fields = dict(mask=box_mask(), inpaint_full_res=False, mask_blur_x=8, mask_blur_y=8, mask_round=False)
    soft, _ = run(sd1, **fields, soft_inpainting={"mask_blend_scale": 0.5})
    keeping, _ = run(sd1, **fields, soft_inpainting={"mask_blend_scale": 8.0, "composite_difference_threshold": 8.0})
    assert SoftInpainting.of(GenerationRequest(soft_inpainting={"mask_blend_scale": 2})).mask_blend_scale == 2.0
    assert SoftInpainting.of(GenerationRequest()) is None
    assert soft.shape == hard.shape and not np.array_equal(soft, hard)
    resized = np.asarray(image_utils.resize_image(0, picture(), 32, 32, upscaler_name=None), dtype=np.float32)

    def change(image):
        return np.abs(image.astype(np.float32) - resized).mean()

    assert change(keeping) < change(soft)  # more preservation keeps more of the original
