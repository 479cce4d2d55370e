"""Helpers for the EAS shim tests: fast tiny checkpoints, seed examples, a local image server."""
from __future__ import annotations

import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # 2 shared cores: more torch threads only contend
SEED = Path("/work/shared/seeds/001_d9295baea8dc0c4f.txt")


def write_fast_checkpoint(path: Path, seed: int = 0) -> Path:
    """A tiny SD1 checkpoint whose VAE has 4 levels (8x down-sampling, like real SD) and whose UNet is even
    smaller than the stock tiny one, so that the seed's 576x576 / 20-step examples run in seconds on a shared
    CPU (the stock tiny VAE down-samples only 2x: its UNet would run at 288x288)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file

    from modules.model_registry.tiny import ARCH_METADATA_KEY, build_tiny_components, components_to_ldm, tiny_arch_hints

    parts = build_tiny_components("sd1", seed)
    torch.manual_seed(seed + 100)
    parts["unet"] = UNet2DConditionModel(
        block_out_channels=(8, 16, 16), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=8,
        cross_attention_dim=32, attention_head_dim=4).eval().requires_grad_(False)
    parts["vae"] = AutoencoderKL(block_out_channels=(8, 8, 8, 8), in_channels=3, out_channels=3,
                                 down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                                 latent_channels=4, norm_num_groups=4, layers_per_block=1, sample_size=64,
                                 scaling_factor=0.18215).eval().requires_grad_(False)
    state = components_to_ldm("sd1", parts, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"format": "pt",
                                          ARCH_METADATA_KEY: json.dumps(tiny_arch_hints("sd1", parts))})
    return path


def make_eas_data_dir(root: Path, names: dict[str, int]) -> Path:
    """A data dir with fast tiny checkpoints {file name: seed} in models/Stable-diffusion."""
    for name, seed in names.items():
        write_fast_checkpoint(root / "models" / "Stable-diffusion" / name, seed)
    return root


def _balanced(text: str, start: int) -> str:
    """The `{...}` block opening at `start` (braces inside JSON strings ignored)."""
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            escaped, in_string = (not escaped and char == "\\"), in_string and (escaped or char != '"')
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start:index + 1]
    return text[start:]


def seed_examples() -> list[dict]:
    """Every JSON request body of the seed (JSON blocks and curl --data-raw bodies), in order, with only their
    `#` comments removed (and the trailing comma that leaves before a `}`)."""
    text = SEED.read_text(encoding="utf-8")
    bodies: list[dict] = []
    for match in re.finditer(r"(?m)^[ \t]*\{[ \t]*$|--data-raw '\{", text):
        block = _balanced(text, match.end() - 1)
        try:
            value = json.loads(re.sub(r",(\s*)\}", r"\1}", re.sub(r"[ \t]#[^\n]*", "", block)))
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "prompt" in value and value not in bodies:
            bodies.append(value)
    return bodies


def png_bytes(size: tuple[int, int] = (64, 64), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


class ImageServer:
    """A local HTTP server: /img.png, /big (over the cap), /text, /redirect/<n> (n hops, then /img.png)."""

    def __init__(self, big_bytes: int = 2 * 1024 * 1024):
        image, big = png_bytes(), b"\x89PNG" + b"\0" * big_bytes

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                if path.startswith("/redirect/"):
                    hops = int(path.rsplit("/", 1)[1])
                    self.send_response(302)
                    self.send_header("Location", f"/redirect/{hops - 1}" if hops > 1 else "/img.png")
                    self.end_headers()
                    return
                body, ctype = {"/big": (big, "image/png"), "/text": (b"not an image", "text/plain")}.get(
                    path, (image, "image/png"))
                if path.endswith("missing.png"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()
