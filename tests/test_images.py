"""Base64 decoding limits, metadata encoding/reading, grids and resize modes."""
from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from modules.errors import InvalidRequestError
from modules.images import (
    decode_base64_image,
    encode_image,
    encode_image_base64,
    make_grid,
    read_infotext,
    resize_image,
)

INFOTEXT = 'a cat, 日本語 🐱\nNegative prompt: ugly\nSteps: 20, Sampler: Euler a, Seed: 1, Lora hashes: "a: 1, b: 2"'


def _png_b64(image: Image.Image) -> str:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def _bilevel_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG; zero rows compress ~1000:1, so even 30000x30000 is ~110 KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)
    rows_per_block = max(1, (1 << 20) // len(row))
    comp = zlib.compressobj(9)
    idat = b""
    done = 0
    while done < height:
        n = min(rows_per_block, height - done)
        idat += comp.compress(row * n)
        done += n
    idat += comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decode_raw_and_data_url():
    img = Image.new("RGB", (7, 5), (10, 20, 30))
    raw = _png_b64(img)
    for data in (raw, "data:image/png;base64," + raw, "  " + raw[:10] + "\n" + raw[10:] + "\n"):
        out = decode_base64_image(data, field="init_images[0]", max_pixels=1000)
        assert out.size == (7, 5) and out.getpixel((0, 0)) == (10, 20, 30)


@pytest.mark.parametrize("data", ["not base64!!", "Zm9v", "", "data:image/png;base64,", "iVBORw0KGgo="])
def test_decode_errors_name_the_field(data):
    with pytest.raises(InvalidRequestError) as e:
        decode_base64_image(data, field="init_images[0]", max_pixels=10**6)
    assert e.value.field == "init_images[0]"
    assert e.value.message == "init_images[0]: not a valid base64-encoded image"


def test_decode_truncated_image_is_invalid():
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(out, format="PNG")
    data = base64.b64encode(out.getvalue()[:60]).decode()
    with pytest.raises(InvalidRequestError, match="not a valid"):
        decode_base64_image(data, field="mask", max_pixels=10**6)


def test_decompression_bomb_refused_before_decoding(monkeypatch):
    def no_decode(self):
        raise AssertionError("pixel data must not be decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decode)
    limit_before = Image.MAX_IMAGE_PIXELS
    data = base64.b64encode(_bilevel_png(8000, 8000)).decode()  # 64 M pixels, under Pillow's own limit
    assert len(data) < 200_000
    with pytest.raises(InvalidRequestError) as e:
        decode_base64_image(data, field="image", max_pixels=4096 * 4096)
    assert e.value.field == "image" and "too large" in e.value.message and "8000x8000" in e.value.message

    huge = base64.b64encode(_bilevel_png(30000, 30000)).decode()  # over Pillow's bomb limit: refused at open
    with pytest.raises(InvalidRequestError, match="too large") as e:
        decode_base64_image(huge, field="init_images[1]", max_pixels=10**12)
    assert e.value.field == "init_images[1]"
    assert Image.MAX_IMAGE_PIXELS == limit_before


def test_decode_transparent_palette_becomes_rgba():
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    out = io.BytesIO()
    img.save(out, format="PNG", transparency=b"\x00\x80")  # per-entry alpha: info["transparency"] is bytes
    res = decode_base64_image(base64.b64encode(out.getvalue()).decode(), field="f", max_pixels=100)
    assert res.mode == "RGBA" and res.getpixel((0, 0))[3] == 0


def test_decode_applies_exif_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW
    out = io.BytesIO()
    Image.new("RGB", (20, 10)).save(out, format="JPEG", exif=exif.tobytes())
    res = decode_base64_image(base64.b64encode(out.getvalue()).decode(), field="f", max_pixels=1000)
    assert res.size == (10, 20)


@pytest.mark.parametrize("fmt", ["png", "jpg", "jpeg", "webp"])
def test_encode_carries_infotext(fmt):
    img = Image.new("RGBA", (32, 24), (200, 100, 50, 255))
    data = encode_image_base64(img, fmt=fmt, infotext=INFOTEXT, jpeg_quality=90)
    assert not data.startswith("data:")
    decoded = decode_base64_image(data, field="image", max_pixels=10**6)
    info, items = read_infotext(decoded)
    assert info == INFOTEXT
    assert "parameters" not in items and "exif" not in items
    assert encode_image(img, fmt=fmt, infotext=INFOTEXT) == encode_image(img, fmt=fmt, infotext=INFOTEXT)


def test_png_keeps_other_text_items():
    img = Image.new("RGB", (8, 8))
    img.info["parameters"] = "old"
    img.info["dpi"] = (72, 72)
    data = encode_image(img, fmt="png", text={"postprocessing": "Postprocess upscale by: 2"})
    info, items = read_infotext(Image.open(io.BytesIO(data)))
    assert info == "old"
    assert items == {"postprocessing": "Postprocess upscale by: 2"}


def test_jpeg_without_infotext_reads_none():
    data = encode_image(Image.new("L", (8, 8)), fmt="jpg")
    assert read_infotext(Image.open(io.BytesIO(data))) == (None, {})


def test_webp_lossless_is_exact():
    img = Image.effect_noise((16, 16), 50).convert("RGB")
    data = encode_image(img, fmt="webp", webp_lossless=True)
    assert Image.open(io.BytesIO(data)).convert("RGB").tobytes() == img.tobytes()


def test_unknown_format_rejected():
    with pytest.raises(InvalidRequestError) as e:
        encode_image(Image.new("RGB", (4, 4)), fmt="gif")
    assert e.value.field == "samples_format"


@pytest.mark.parametrize("n,size", [(1, (10, 10)), (2, (20, 10)), (3, (20, 20)), (4, (20, 20)), (5, (30, 20)),
                                    (6, (30, 20)), (7, (30, 30)), (9, (30, 30)), (10, (40, 30))])
def test_grid_layout(n, size):
    assert make_grid([Image.new("RGB", (10, 10))] * n).size == size


def test_grid_options_and_mixed_sizes():
    imgs = [Image.new("RGB", (10, 10), "red")] * 5
    assert make_grid(imgs, prevent_empty_spots=True).size == (50, 10)
    assert make_grid(imgs, rows=5).size == (10, 50)
    assert make_grid(imgs, rows=9).size == (10, 50)
    grid = make_grid([Image.new("RGB", (10, 10), "red"), Image.new("RGB", (4, 4), "blue")])
    assert grid.size == (20, 10)
    assert grid.getpixel((12, 0)) == (255, 255, 255) and grid.getpixel((15, 5)) == (0, 0, 255)


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
@pytest.mark.parametrize("upscaler", ["Lanczos", "Nearest", "None", None])
def test_resize_modes_output_size(mode, upscaler):
    for src in ((100, 50), (50, 100), (64, 64)):
        assert resize_image(mode, Image.new("RGB", src), 96, 80, upscaler).size == (96, 80)


def test_resize_mode_1_crops_and_2_fills_with_edges():
    img = Image.new("RGB", (100, 50), "blue")
    img.paste((255, 0, 0), (0, 0, 100, 1))  # red top row
    img.paste((0, 255, 0), (0, 49, 100, 50))  # green bottom row
    filled = resize_image(2, img, 100, 100)
    assert filled.getpixel((50, 5)) == (255, 0, 0) and filled.getpixel((50, 95)) == (0, 255, 0)
    assert filled.getpixel((50, 50)) == (0, 0, 255)
    cropped = resize_image(1, img, 50, 50)
    assert cropped.getpixel((25, 25)) == (0, 0, 255)


def test_resize_unknown_upscaler_names_field():
    with pytest.raises(InvalidRequestError) as e:
        resize_image(0, Image.new("RGB", (8, 8)), 64, 64, "ESRGAN_9x", field="hr_upscaler")
    assert e.value.field == "hr_upscaler" and "Lanczos" in e.value.message


def test_oversized_infotext_jpeg_drops_exif_webp_keeps_it():
    long_text = "x, " * 15000  # 90 KB as UTF-16: over JPEG's 64 KiB EXIF segment
    img = Image.new("RGB", (8, 8))
    assert read_infotext(Image.open(io.BytesIO(encode_image(img, fmt="jpg", infotext=long_text))))[0] is None
    assert read_infotext(Image.open(io.BytesIO(encode_image(img, fmt="webp", infotext=long_text))))[0] == long_text
