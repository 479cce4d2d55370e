"""Infotext building and parsing (A1111 create_infotext / parse_generation_parameters semantics)."""
from __future__ import annotations

import pytest

from modules.infotext import (
    INFOTEXT_KEY_ORDER,
    build_params_line,
    create_infotext,
    parse_generation_parameters,
    prompt_uses_emphasis,
    quote,
)


def test_quote_only_when_needed():
    assert quote("Euler a") == "Euler a"
    assert quote(7.0) == "7.0"
    assert quote("a, b") == '"a, b"'
    assert quote("k: v") == '"k: v"'
    assert quote("two\nlines") == '"two\\nlines"'
    assert quote('say "hi", ok') == '"say \\"hi\\", ok"'
    assert quote("日本, ü") == '"日本, ü"'  # ensure_ascii=False


def test_build_params_line_skips_none_and_writes_bare_keys():
    line = build_params_line({"Steps": 20, "Tiling": None, "Hires upscaler": "Latent", "Flag": "Flag"})
    assert line == "Steps: 20, Hires upscaler: Latent, Flag"


def test_create_infotext_layout_and_order():
    params = {
        "Lora hashes": "a: 1, b: 2",
        "Version": "v1.10.1",
        "Size": "512x768",
        "Seed": 42,
        "Steps": 20,
        "Custom": "x",
        "CFG scale": 7.0,
        "Sampler": "DPM++ 2M",
        "Schedule type": "Karras",
        "Model hash": "6ce0161689",
        "Model": "v1-5",
        "User": None,
    }
    text = create_infotext("a cat", "ugly", params)
    assert text == (
        "a cat\nNegative prompt: ugly\n"
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 42, Size: 512x768, "
        'Model hash: 6ce0161689, Model: v1-5, Lora hashes: "a: 1, b: 2", Custom: x, Version: v1.10.1'
    )


def test_negative_prompt_line_omitted_when_empty_and_text_stripped():
    text = create_infotext("", "", {"Steps": 1, "Sampler": "Euler", "Seed": 3})
    assert text == "Steps: 1, Sampler: Euler, Seed: 3"
    assert create_infotext("p", "", {"Steps": 1}) == "p\nSteps: 1"


def test_key_order_constant_matches_reference():
    assert INFOTEXT_KEY_ORDER[:8] == ("Steps", "Sampler", "Schedule type", "CFG scale", "Image CFG scale", "Seed",
                                      "Face restoration", "Size")
    assert INFOTEXT_KEY_ORDER[-3:] == ("Init image hash", "RNG", "Tiling")
    assert len(INFOTEXT_KEY_ORDER) == 26


@pytest.mark.parametrize("prompt,negative", [
    ("a photo of a cat, best quality", "blurry, lowres"),
    ("line one\nline two: with colon", "neg line\nsecond neg"),
    ("日本語のプロンプト, émoji 🐱", "ünïcödé"),
    ("just a prompt", ""),
])
def test_round_trip(prompt, negative):
    params = {
        "Steps": 30,
        "Sampler": "Euler a",
        "CFG scale": 7.5,
        "Seed": 123456789,
        "Size": "640x512",
        "Model": "my model, v2",
        "Hires upscaler": "Latent (nearest)",
        "Lora hashes": "add_detail: 7c6bad76eb54, other: 0123",
        "Note": "multi\nline: \"quoted\" 日本",
        "Seed resize from": "320x256",
        "Version": "v1.10.1",
    }
    res = parse_generation_parameters(create_infotext(prompt, negative, params))
    assert res["Prompt"] == prompt
    assert res["Negative prompt"] == negative
    assert res["Size-1"] == "640" and res["Size-2"] == "512"
    assert res["Seed resize from-1"] == "320" and res["Seed resize from-2"] == "256"
    for key, value in params.items():
        if key not in ("Size", "Seed resize from"):
            assert res[key] == str(value), key


def test_parse_fills_a1111_defaults():
    res = parse_generation_parameters("a dog\nSteps: 20, Sampler: Euler, Seed: 1")
    assert res["Clip skip"] == "1"
    assert res["RNG"] == "GPU"
    assert res["Schedule type"] == "Automatic"
    assert res["Hires sampler"] == "Use same sampler"
    assert res["Hires schedule type"] == "Use same scheduler"
    assert res["Hires checkpoint"] == "Use same checkpoint"
    assert res["Hires resize-1"] == 0 and res["Hires resize-2"] == 0
    assert res["Mask mode"] == "Inpaint masked"
    assert res["Masked content"] == "original"
    assert res["Inpaint area"] == "Whole picture"
    assert res["Masked area padding"] == 32
    assert res["VAE Encoder"] == "Full" and res["VAE Decoder"] == "Full"
    assert res["FP8 weight"] == "Disable"
    assert "Cache FP16 weight for LoRA" not in res
    assert "Emphasis" not in res


def test_parse_keeps_given_values_over_defaults():
    res = parse_generation_parameters("x\nSteps: 20, Clip skip: 2, RNG: CPU, FP8 weight: Enable for SDXL")
    assert res["Clip skip"] == "2" and res["RNG"] == "CPU"
    assert res["Cache FP16 weight for LoRA"] is False


def test_emphasis_default_only_when_prompt_weights_differ():
    assert parse_generation_parameters("a (cat)\nSteps: 1, Seed: 1, Sampler: Euler")["Emphasis"] == "Original"
    assert "Emphasis" not in parse_generation_parameters("a (cat:1.0)\nSteps: 1, Seed: 1, Sampler: Euler")
    assert "Emphasis" not in parse_generation_parameters(r"a \(cat\)" + "\nSteps: 1, Seed: 1, Sampler: Euler")
    assert prompt_uses_emphasis("[dog]") and prompt_uses_emphasis("(a:1.3) BREAK b")
    assert not prompt_uses_emphasis("plain BREAK text") and not prompt_uses_emphasis("()")


def test_short_last_line_is_prompt():
    res = parse_generation_parameters("hello\nSteps: 20, Seed: 1")
    assert res["Prompt"] == "hello\nSteps: 20, Seed: 1"
    assert "Steps" not in res


def test_quirks_bare_and_empty_values_are_dropped():
    res = parse_generation_parameters("p\nSteps: 1, Seed: 2, Sampler: Euler, Tiling, Empty: ")
    assert "Tiling" not in res and "Empty" not in res


def test_old_hires_first_pass_size():
    res = parse_generation_parameters("p\nSteps: 1, Seed: 2, Size: 1024x1024, First pass size: 0x0")
    assert (res["Size-1"], res["Size-2"]) == (512, 512)
    assert (res["Hires resize-1"], res["Hires resize-2"]) == (1024, 1024)


def test_backcompat_flags_for_old_versions():
    res = parse_generation_parameters("p [a:b:3]\nSteps: 1, Seed: 2, Sampler: DDIM, Version: v1.5.1")
    assert res["Old prompt editing timelines"] is True
    assert res["Pad conds v0"] is True
    assert res["Downcast alphas_cumprod"] is True
    assert "Downcast alphas_cumprod" not in parse_generation_parameters("p\nSteps: 1, Seed: 2, Version: v1.10.1")
