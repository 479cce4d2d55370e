"""CLIP BPE tokenizer files derived offline from open_clip's packaged vocabulary.

open-clip-torch ships `bpe_simple_vocab_16e6.txt.gz` (MIT). From it we derive the Hugging Face
`vocab.json` + `merges.txt` that `CLIPTokenizer.from_pretrained` reads. The package is located with
`importlib.util.find_spec` and is NEVER imported (its `__init__` needs torchvision).

Two flavours are written, differing only in the pad token:
- "clip"     (OpenAI CLIP-L; SD1.x `tokenizer`, SDXL `tokenizer`): pad "<|endoftext|>" (id 49407)
- "openclip" (OpenCLIP ViT-H / bigG; SD2.x `tokenizer`, SDXL `tokenizer_2`): pad "!" (id 0)
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import os
import threading
from pathlib import Path

from modules.errors import ModelLoadError

BPE_FILE_NAME = "bpe_simple_vocab_16e6.txt.gz"
MODEL_MAX_LENGTH = 77
PAD_TOKENS = {"clip": "<|endoftext|>", "openclip": "!"}
_lock = threading.Lock()


def find_bpe_file() -> Path:
    """Locate open_clip's BPE data file without importing open_clip."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"Cannot build the CLIP tokenizer: package 'open_clip' (open-clip-torch) is not installed, so "
            f"'{BPE_FILE_NAME}' is missing. Install it with `pip install --no-deps open-clip-torch`."
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / BPE_FILE_NAME
        if candidate.is_file():
            return candidate
    raise ModelLoadError(f"open_clip is installed but '{BPE_FILE_NAME}' was not found in it.")


def _bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable-unicode table of GPT-2/CLIP BPE."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def build_vocab_and_merges(bpe_file: Path | None = None) -> tuple[dict[str, int], list[str]]:
    """Return (vocab token->id, merges lines) exactly as OpenAI's SimpleTokenizer builds them (49408 tokens)."""
    path = bpe_file or find_bpe_file()
    lines = gzip.open(path, "rt", encoding="utf-8").read().split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    base = list(_bytes_to_unicode().values())
    tokens = base + [t + "</w>" for t in base]
    tokens += ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def _tokenizer_config(pad: str) -> dict:
    return {
        "add_prefix_space": False,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": pad,
        "unk_token": "<|endoftext|>",
        "do_lower_case": True,
        "errors": "replace",
        "model_max_length": MODEL_MAX_LENGTH,
        "tokenizer_class": "CLIPTokenizer",
    }


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_tokenizer_files(target: Path, *, flavour: str = "clip") -> Path:
    """Write vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json into `target`."""
    if flavour not in PAD_TOKENS:
        raise ValueError(f"Unknown tokenizer flavour {flavour!r}; expected one of {sorted(PAD_TOKENS)}")
    target.mkdir(parents=True, exist_ok=True)
    vocab, merges = build_vocab_and_merges()
    pad = PAD_TOKENS[flavour]
    _atomic_write(target / "vocab.json", json.dumps(vocab, ensure_ascii=False))
    _atomic_write(target / "merges.txt", "#version: 0.2\n" + "\n".join(merges) + "\n")
    specials = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": pad,
                "unk_token": "<|endoftext|>"}
    _atomic_write(target / "special_tokens_map.json", json.dumps(specials, indent=2))
    # tokenizer_config.json last: its presence marks a complete directory.
    _atomic_write(target / "tokenizer_config.json", json.dumps(_tokenizer_config(pad), indent=2))
    return target


def ensure_tokenizer_dir(cache_dir: Path, *, flavour: str = "clip") -> Path:
    """Return `<cache_dir>/clip-tokenizer/<flavour>`, writing the files on first use (thread-safe)."""
    target = Path(cache_dir) / "clip-tokenizer" / flavour
    with _lock:
        if not (target / "tokenizer_config.json").is_file():
            write_tokenizer_files(target, flavour=flavour)
    return target


def load_clip_tokenizer(cache_dir: Path, *, flavour: str = "clip"):
    """A fresh `CLIPTokenizer` (model_max_length 77) built from the derived files, fully offline."""
    from transformers import CLIPTokenizer

    directory = ensure_tokenizer_dir(cache_dir, flavour=flavour)
    # NB: never CLIPTokenizer(vocab_file=..., merges_file=...): silently broken in transformers 5.
    return CLIPTokenizer.from_pretrained(str(directory), local_files_only=True, model_max_length=MODEL_MAX_LENGTH)
