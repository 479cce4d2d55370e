"""Fixtures for the BeautifulPrompt extension: its package on sys.path, a tiny random BLOOM, a live server."""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT, free_port

EXTENSION_DIR = ROOT / "extensions_builtin" / "beautifulprompt"
if str(EXTENSION_DIR) not in sys.path:
    sys.path.insert(0, str(EXTENSION_DIR))

TINY_MODEL = "tiny-bloom"
_SENTENCES = [
    "Instruction: Give a simple description of the image to generate a drawing prompt.",
    "Input: a cat", "Input: a castle on a hill", "Output:",
    "a cat, oil painting, highly detailed, cinematic lighting, 35mm lens, golden hour, vibrant colors",
    "a castle on a hill, digital painting, fantasy art, volumetric lighting, wide shot, sharp focus",
]


def write_tiny_bloom(folder: Path, seed: int = 0) -> Path:
    """A random-weight 2-layer BLOOM with a word-level tokenizer, saved in Hugging Face format in `folder`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import BloomConfig, BloomForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer.train_from_iterator(_SENTENCES, trainers.WordLevelTrainer(special_tokens=["<unk>", "<pad>", "</s>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", eos_token="</s>")
    torch.manual_seed(seed)
    config = BloomConfig(vocab_size=len(fast), hidden_size=32, n_layer=2, n_head=4, bos_token_id=fast.eos_token_id,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    BloomForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def bp_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`<tmp>/models/BeautifulPrompt` holding `tiny-bloom` and a folder without config.json (not a model)."""
    models_dir = tmp_path_factory.mktemp("bpdata") / "models" / "BeautifulPrompt"
    write_tiny_bloom(models_dir / TINY_MODEL)
    (models_dir / "not-a-model").mkdir()
    return models_dir


class LiveServer:
    """A FastAPI app served by uvicorn in a background thread on a free loopback port."""

    def __init__(self, app) -> None:
        import uvicorn

        self.app = app
        self.url = f"http://127.0.0.1:{free_port()}"
        port = int(self.url.rsplit(":", 1)[1])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def bp_server(bp_models_dir: Path) -> Iterator[LiveServer]:
    """The BeautifulPrompt routes (registered by the extension's own function) on a real server.

    As in launch.py, a catch-all app (the WebUI's place) is mounted at "/" before the routes are added.
    """
    from bprompt.registry import ExpanderRegistry
    from bprompt.routes import register_routes
    from fastapi import FastAPI
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from modules.api.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    app.mount("/", Starlette(routes=[Route("/", lambda _request: PlainTextResponse("webui"))]))
    register_routes(app, ExpanderRegistry(bp_models_dir))
    with LiveServer(app) as server:
        yield server
