"""Infotext: the "generation parameters" text A1111 stores in images and returns in `info.infotexts`.

Layout (docs: /work/shared/ref/a1111-api.md §6)::

    <prompt>
    Negative prompt: <negative prompt>        (only when non-empty)
    Steps: 20, Sampler: Euler a, CFG scale: 7.0, Seed: 1, Size: 512x512, ...

`create_infotext` writes it, `parse_generation_parameters` reads it back the way A1111 1.10 does, including the
defaults A1111 fills in for keys that are missing. Known A1111 quirks kept on purpose (so parse(create(...)) is not a
perfect round trip for them): a value equal to its key is written bare and is not parsed back; an empty value is
dropped by the parser; a params line with fewer than 3 `Key: value` pairs is read as part of the prompt; every
`WxH` value becomes `<Key>-1`/`<Key>-2`; prompt lines are stripped. Not done here: style extraction
("Styles array") and opts.infotext_skip_pasting, which need the server's styles/options.
"""
from __future__ import annotations

import json
import math
import re

from packaging import version as _version

INFOTEXT_KEY_ORDER: tuple[str, ...] = (
    "Steps", "Sampler", "Schedule type", "CFG scale", "Image CFG scale", "Seed", "Face restoration", "Size",
    "Model hash", "Model", "FP8 weight", "Cache FP16 weight for LoRA", "VAE hash", "VAE", "Variation seed",
    "Variation seed strength", "Seed resize from", "Denoising strength", "Conditional mask weight", "Clip skip",
    "ENSD", "Token merging ratio", "Token merging ratio hr", "Init image hash", "RNG", "Tiling",
)
"""The fixed slots of A1111's create_infotext dict literal; extra params follow, then TRAILING_KEYS."""

TRAILING_KEYS: tuple[str, ...] = ("Version", "User")

RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")

# Defaults A1111 1.10 fills in when a key is missing, in its order (Clip skip/Hires resize/RNG handled in code).
_DEFAULTS_1: dict[str, object] = {
    "Hires sampler": "Use same sampler",
    "Hires schedule type": "Use same scheduler",
    "Hires checkpoint": "Use same checkpoint",
    "Hires prompt": "",
    "Hires negative prompt": "",
    "Mask mode": "Inpaint masked",
    "Masked content": "original",
    "Inpaint area": "Whole picture",
    "Masked area padding": 32,
}
_DEFAULTS_2: dict[str, object] = {
    "Schedule type": "Automatic",
    "Schedule max sigma": 0,
    "Schedule min sigma": 0,
    "Schedule rho": 0,
    "VAE Encoder": "Full",
    "VAE Decoder": "Full",
    "FP8 weight": "Disable",
}


def quote(value: object) -> str:
    """`str(value)`, JSON-encoded (double quotes, non-ASCII kept) when it contains `,`, `:` or a newline."""
    text = str(value)
    if "," not in text and ":" not in text and "\n" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def unquote(text: str) -> str:
    """Inverse of `quote` for a value read from a params line; text that is not valid JSON stays as is."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str) else text


def build_params_line(params: dict[str, object]) -> str:
    """`Key: value` pairs joined by ", " in dict order; None values are skipped, a value equal to its key is
    written bare (A1111), other values go through `str()` and `quote()`."""
    return ", ".join(k if k == v else f"{k}: {quote(v)}" for k, v in params.items() if v is not None)


def order_params(params: dict[str, object]) -> dict[str, object]:
    """`params` reordered: INFOTEXT_KEY_ORDER keys first, then the other keys in insertion order, then Version, User."""
    fixed = {k: params[k] for k in INFOTEXT_KEY_ORDER if k in params}
    extra = {k: v for k, v in params.items() if k not in fixed and k not in TRAILING_KEYS}
    trailing = {k: params[k] for k in TRAILING_KEYS if k in params}
    return {**fixed, **extra, **trailing}


def create_infotext(prompt: str, negative_prompt: str, params: dict[str, object]) -> str:
    """The full infotext: prompt, "Negative prompt: ..." line (only when non-empty) and the ordered params line,
    the whole `.strip()`ped as A1111 does."""
    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{build_params_line(order_params(params))}".strip()


# --- prompt emphasis (A1111 prompt_parser.parse_prompt_attention, reduced to "is any weight != 1") ---------------

_RE_ATTENTION = re.compile(
    r"\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:", re.X
)
_RE_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def prompt_uses_emphasis(text: str) -> bool:
    """True when A1111's attention parser gives any text chunk of `text` a weight other than 1.0."""
    chunks: list[list] = []  # [text, weight]
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply(start: int, factor: float) -> None:
        for chunk in chunks[start:]:
            chunk[1] *= factor

    for m in _RE_ATTENTION.finditer(text):
        token, weight = m.group(0), m.group(1)
        if token.startswith("\\"):
            chunks.append([token[1:], 1.0])
        elif token == "(":
            round_open.append(len(chunks))
        elif token == "[":
            square_open.append(len(chunks))
        elif weight is not None and round_open and _is_float(weight):
            multiply(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            multiply(round_open.pop(), 1.1)
        elif token == "]" and square_open:
            multiply(square_open.pop(), 1 / 1.1)
        else:
            for i, part in enumerate(_RE_BREAK.split(token)):
                if i > 0:
                    chunks.append(["BREAK", -1])
                chunks.append([part, 1.0])
    for pos in round_open:
        multiply(pos, 1.1)
    for pos in square_open:
        multiply(pos, 1 / 1.1)
    return any(w != 1.0 and t != "BREAK" for t, w in chunks)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- parsing ----------------------------------------------------------------------------------------------------

def parse_generation_parameters(text: str) -> dict[str, object]:
    """Parses an infotext into a dict, as A1111 1.10's `parse_generation_parameters`.

    Parsed values are strings ("Prompt" and "Negative prompt" hold the texts, `WxH` values become `Key-1`/`Key-2`);
    filled-in defaults keep A1111's types (e.g. "Masked area padding": 32, "Hires resize-1": 0).
    """
    res: dict[str, object] = {}
    prompt = ""
    negative_prompt = ""
    done_with_prompt = False

    *lines, lastline = text.strip().split("\n")
    if len(RE_PARAM.findall(lastline)) < 3:
        lines.append(lastline)
        lastline = ""

    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        if done_with_prompt:
            negative_prompt += ("" if negative_prompt == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line

    for key, value in RE_PARAM.findall(lastline):
        if not value:
            continue  # A1111 fails on v[0] and skips the pair
        if value[0] == '"' and value[-1] == '"':
            value = unquote(value)
        m = RE_IMAGESIZE.match(value)
        if m is not None:
            res[f"{key}-1"] = m.group(1)
            res[f"{key}-2"] = m.group(2)
        else:
            res[key] = value

    res["Prompt"] = prompt
    res["Negative prompt"] = negative_prompt

    res.setdefault("Clip skip", "1")
    hypernet = res.get("Hypernet")
    if hypernet is not None:
        res["Prompt"] = f"{res['Prompt']}<hypernet:{hypernet}:{res.get('Hypernet strength', '1.0')}>"
    if "Hires resize-1" not in res:
        res["Hires resize-1"] = 0
        res["Hires resize-2"] = 0
    for key, default in _DEFAULTS_1.items():
        res.setdefault(key, default)
    _restore_old_hires_fix_params(res)
    res.setdefault("RNG", "GPU")
    for key, default in _DEFAULTS_2.items():
        res.setdefault(key, default)
    if "Cache FP16 weight for LoRA" not in res and res["FP8 weight"] != "Disable":
        res["Cache FP16 weight for LoRA"] = False
    if "Emphasis" not in res and (prompt_uses_emphasis(prompt) or prompt_uses_emphasis(negative_prompt)):
        res["Emphasis"] = "Original"
    res.setdefault("Refiner switch by sampling steps", False)
    _backcompat(res)
    return res


def _restore_old_hires_fix_params(res: dict[str, object]) -> None:
    """Old infotexts with "First pass size": that is the real Size, and Size was the hires target."""
    first_w, first_h = res.get("First pass size-1"), res.get("First pass size-2")
    if first_w is None or first_h is None:
        return
    first_w, first_h = int(first_w), int(first_h)
    width, height = int(res.get("Size-1", 512)), int(res.get("Size-2", 512))
    if first_w == 0 or first_h == 0:
        scale = math.sqrt(512 * 512 / (width * height))
        first_w = math.ceil(scale * width / 64) * 64
        first_h = math.ceil(scale * height / 64) * 64
    res["Size-1"], res["Size-2"] = first_w, first_h
    res["Hires resize-1"], res["Hires resize-2"] = width, height


_V160 = _version.parse("1.6.0")
_V170_TSNR = _version.parse("v1.7.0-225")
_V180 = _version.parse("1.8.0")


def parse_version(text: object) -> _version.Version | None:
    """The version in an infotext "Version" value ("v1.10.1", "v1.7.0-225-gabcdef"), or None."""
    if not isinstance(text, str):
        return None
    m = re.match(r"([^-]+-[^-]+)-.*", text)
    if m:
        text = m.group(1)
    try:
        return _version.parse(text)
    except _version.InvalidVersion:
        return None


def _backcompat(res: dict[str, object]) -> None:
    """A1111 infotext_versions.backcompat (opts.auto_backcompat on): flags for images made by old versions."""
    ver = parse_version(res.get("Version"))
    if ver is None:
        return
    if ver < _V160 and "[" in str(res.get("Prompt", "")):
        res["Old prompt editing timelines"] = True
    if ver < _V160 and res.get("Sampler", "") in ("DDIM", "PLMS"):
        res["Pad conds v0"] = True
    if ver < _V170_TSNR:
        res["Downcast alphas_cumprod"] = True
    if ver < _V180 and res.get("Refiner"):
        res["Refiner switch by sampling steps"] = True


def readable_parameters(text: str) -> list[tuple[str, str]]:
    """The infotext as written, for people: Prompt, Negative prompt, then every `Key: value` pair of the params
    line in its order, values unquoted (no split sizes such as "Size-1", no defaults filled in)."""
    *lines, lastline = text.strip().split("\n")
    if len(RE_PARAM.findall(lastline)) < 3:
        lines.append(lastline)
        lastline = ""
    prompt, negative, in_negative = [], [], False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[16:].strip()
        (negative if in_negative else prompt).append(line)
    rows = [("Prompt", "\n".join(prompt))]
    if negative:
        rows.append(("Negative prompt", "\n".join(negative)))
    for key, value in RE_PARAM.findall(lastline):
        if value:
            rows.append((key.strip(), unquote(value) if value[0] == '"' and value[-1] == '"' else value))
    return rows
