"""Upscaler registry and the extras upscale step."""
from __future__ import annotations

import pytest
from PIL import Image

from modules import upscalers
from modules.errors import InvalidRequestError
from modules.postprocessing import run_extras
from modules.upscalers import UpscalerInfo, get_upscaler, list_upscalers, upscale


def _img(w: int = 100, h: int = 60, color=(200, 50, 50)) -> Image.Image:
    return Image.new("RGB", (w, h), color)


def test_builtins_listed_in_a1111_order():
    names = [u.name for u in list_upscalers()]
    assert names[:3] == ["None", "Lanczos", "Nearest"]
    assert get_upscaler("Lanczos") == UpscalerInfo("Lanczos", None, None, None, 4)


def test_unknown_upscaler_lists_valid_names():
    with pytest.raises(InvalidRequestError) as e:
        get_upscaler("R-ESRGAN 4x+", field="hr_upscaler")
    assert e.value.field == "hr_upscaler"
    assert "None, Lanczos, Nearest" in e.value.message
    with pytest.raises(InvalidRequestError) as e:
        run_extras(_img(), upscaler_1="lanczos")  # exact names, as A1111
    assert e.value.field == "upscaler_1"
    with pytest.raises(InvalidRequestError) as e:
        run_extras(_img(), upscaler_1="Lanczos", upscaler_2="nope", extras_upscaler_2_visibility=0.5)
    assert e.value.field == "upscaler_2"


def test_upscale_by_factor_floors_to_multiple_of_8():
    assert upscale(_img(100, 60), 2, "Lanczos").size == (200, 120)
    assert upscale(_img(100, 75), 2, "Nearest").size == (200, 144)
    assert upscale(_img(100, 75), 2, "None").size == (200, 144)  # "None" upscaler: plain resize
    assert upscale(_img(616, 64), (640, 64), "Lanczos").size == (640, 64)


def test_extras_scale_by():
    img = _img()
    img.info["parameters"] = "original infotext"
    out, info = run_extras(img, resize_mode=0, upscaling_resize=2, upscaler_1="Lanczos")
    assert out.size == (200, 120)
    assert info == "Postprocess upscale by: 2, Postprocess upscaler: Lanczos"
    assert out.info == {"parameters": "original infotext", "postprocessing": info}
    assert img.info == {"parameters": "original infotext"}
    _, info = run_extras(img, upscaling_resize=2.5, upscaler_1="Nearest")
    assert info == "Postprocess upscale by: 2.5, Postprocess upscaler: Nearest"


def test_extras_none_upscaler_skips_upscaling():
    img = _img()
    out, info = run_extras(img, upscaling_resize=2, upscaler_1="None", upscaler_2="Lanczos",
                           extras_upscaler_2_visibility=1)
    assert out.size == img.size and info == "" and out.info["postprocessing"] == ""
    assert out is not img


def test_extras_scale_to_with_and_without_crop():
    img = _img(100, 50)
    out, info = run_extras(img, resize_mode=1, upscaling_resize_w=300, upscaling_resize_h=300,
                           upscaling_crop=True, upscaler_1="Lanczos")
    assert out.size == (300, 300)
    assert info == ("Postprocess upscale to: 300x300, Postprocess crop to: 300x300, "
                    "Postprocess upscaler: Lanczos")
    out, info = run_extras(img, resize_mode=1, upscaling_resize_w=300, upscaling_resize_h=300,
                           upscaling_crop=False, upscaler_1="Lanczos")
    assert out.size == (600, 300)
    assert info == "Postprocess upscale to: 300x300, Postprocess upscaler: Lanczos"
    out, _ = run_extras(_img(100, 100), resize_mode=1, upscaling_resize_w=500, upscaling_resize_h=500,
                        upscaler_1="Lanczos")
    assert out.size == (500, 500) and out.getpixel((0, 0)) == (200, 50, 50)  # no black bands


def test_extras_blend_second_upscaler():
    def invert(image: Image.Image, scale: float) -> Image.Image:
        return Image.eval(image.resize((int(image.width * scale), int(image.height * scale))), lambda v: 255 - v)

    upscalers.register_upscaler(UpscalerInfo("Invert", model_name="invert", scale=2), invert)
    try:
        assert [u.name for u in list_upscalers()][-1] == "Invert"
        img = _img(40, 40, (200, 100, 0))
        out, info = run_extras(img, upscaling_resize=2, upscaler_1="Lanczos", upscaler_2="Invert",
                               extras_upscaler_2_visibility=0.25)
        r, g, b = out.getpixel((40, 40))
        assert max(abs(r - 164), abs(g - 114), abs(b - 64)) <= 1  # 0.75*a + 0.25*(255-a)
        assert info.endswith("Postprocess upscaler: Lanczos, Postprocess upscaler 2: Invert")
        out, info = run_extras(img, upscaling_resize=2, upscaler_1="Lanczos", upscaler_2="Invert",
                               extras_upscaler_2_visibility=0)
        assert out.getpixel((40, 40)) == (200, 100, 0) and "upscaler 2" not in info
    finally:
        upscalers._REGISTRY.pop("Invert", None)


def test_extras_max_side_length():
    out, info = run_extras(_img(100, 50), upscaling_resize=4, max_side_length=200, upscaler_1="Lanczos")
    assert out.size == (200, 100)
    assert info == "Postprocess upscale by: 4, Max side length: 200, Postprocess upscaler: Lanczos"


def test_extras_size_limits_name_the_field():
    with pytest.raises(InvalidRequestError) as e:
        run_extras(_img(1000, 1000), upscaling_resize=8, upscaler_1="Lanczos", max_pixels=4096 * 4096)
    assert e.value.field == "upscaling_resize"
    with pytest.raises(InvalidRequestError) as e:
        run_extras(_img(1000, 10), resize_mode=1, upscaling_resize_w=512, upscaling_resize_h=512,
                   upscaler_1="Lanczos", max_pixels=1024 * 1024)  # the uncropped 51200x512 is too big
    assert e.value.field == "upscaling_resize_w"
    with pytest.raises(InvalidRequestError) as e:
        run_extras(_img(), resize_mode=2, upscaler_1="Lanczos")
    assert e.value.field == "resize_mode"
    with pytest.raises(InvalidRequestError) as e:
        run_extras(_img(), upscaling_resize=0, upscaler_1="Lanczos")
    assert e.value.field == "upscaling_resize"


def test_extras_carries_jpeg_exif_infotext():
    from modules.images import decode_base64_image, encode_image_base64

    src = decode_base64_image(encode_image_base64(_img(), fmt="jpg", infotext="p\nSteps: 1, Seed: 2, Sampler: Euler"),
                              field="image", max_pixels=10**6)
    out, info = run_extras(src, upscaling_resize=2, upscaler_1="Lanczos")
    assert out.info == {"parameters": "p\nSteps: 1, Seed: 2, Sampler: Euler", "postprocessing": info}
