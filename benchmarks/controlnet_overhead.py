"""ControlNet overhead: an Easel txt2img with one ControlNet unit vs the same request without it.

Same checkpoint, size, sampler (Euler), steps, CFG and seed, one after the other in one run, through the real API
(the in-process app: queue, worker, preprocessing, model cache). Each case is warmed up once (the ControlNet load
is not timed), then timed `--repeats` times (median). Prints both times and the ratio with / without.

Default: the tiny 8x test models (lib_controlnet/tiny.py) at 256x256, 10 steps. `--full`: a full-size SD1.5
checkpoint and a full-size SD1.5 ControlNet, both random-weight (fp16 files, about 2 GB and 690 MB, written once
to --dir), at 512x512 / 4 steps: minutes on a CPU. On a GPU, the sd-webui-controlnet extension's overhead on A1111
is the reference (the ControlNet is a second encoder-sized network run at every UNet call).

    venv/bin/python benchmarks/controlnet_overhead.py [--full] [--repeats N] [--dir DIR]
"""
from __future__ import annotations

import argparse
import base64
import io
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from common import ROOT, median_time, write_fullsize_sd15  # noqa: E402

sys.path.insert(0, str(ROOT / "extensions_builtin" / "controlnet"))


def write_fullsize_controlnet(path: Path) -> Path:
    """A full-size SD1.5 ControlNet (the shipped config), random weights, lllyasviel layout, fp16."""
    import json

    from diffusers import ControlNetModel
    from lib_controlnet import loader, tiny
    from safetensors.torch import save_file

    if path.exists():
        return path
    torch.manual_seed(0)
    config = json.loads((loader.CONFIGS / "sd15" / "config.json").read_text(encoding="utf-8"))
    model = ControlNetModel.from_config(config)
    with torch.no_grad():
        for conv in [*model.controlnet_down_blocks, model.controlnet_mid_block]:
            conv.weight.normal_(0.0, 0.02)
    state = tiny.controlnet_to_ldm(model.state_dict(), config)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(path), metadata={"format": "pt"})
    return path


def control_image(size: int) -> str:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(image).rectangle([size // 4, size // 4, 3 * size // 4, 3 * size // 4], outline="black",
                                    width=max(2, size // 64))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="full-size SD1.5 + ControlNet at 512x512 / 4 steps")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "easel-bench-controlnet")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from lib_controlnet import tiny

    from tests.inprocess import InProcessServer

    root = args.dir / ("full" if args.full else "tiny")
    ckpt = root / "models" / "Stable-diffusion" / "model.safetensors"
    cn = root / "models" / "ControlNet" / "control_v11p_sd15_canny.safetensors"
    if args.full:
        write_fullsize_sd15(ckpt)
        write_fullsize_controlnet(cn)
        size, steps = 512, 4
    else:
        if not ckpt.exists():
            tiny.write_tiny_checkpoint_8x(ckpt)
        if not cn.exists():
            tiny.write_tiny_controlnet(cn)
        size, steps = 256, 10
    body = {"prompt": "a house", "negative_prompt": "blurry", "steps": steps, "width": size, "height": size,
            "seed": 1, "sampler_name": "Euler", "cfg_scale": 7}
    unit = {"enabled": True, "module": "canny", "model": "control_v11p_sd15_canny", "image": control_image(size),
            "save_detected_map": False}
    with_unit = {**body, "alwayson_scripts": {"controlnet": {"args": [unit]}}}
    server = InProcessServer(root).start()
    try:
        with server.client(timeout=3600) as client:
            def run(payload):
                response = client.post("/sdapi/v1/txt2img", json=payload)
                response.raise_for_status()

            for payload in (body, with_unit):  # warm-up: model loads, first-call allocations
                run(payload)
            plain = median_time(lambda: run(body), args.repeats)
            controlled = median_time(lambda: run(with_unit), args.repeats)
    finally:
        server.stop()
    label = "full-size SD1.5" if args.full else "tiny 8x"
    device = "cuda" if torch.cuda.is_available() else f"cpu ({args.threads} threads)"
    print(f"{label}, {size}x{size}, {steps} steps, Euler, CFG 7, on {device}, median of {args.repeats}")
    print(f"  without ControlNet: {plain:.3f}s")
    print(f"  with one unit     : {controlled:.3f}s")
    print(f"  ratio with / without: {controlled / plain:.3f}")


if __name__ == "__main__":
    main()
