"""Device and precision choice from the A1111 flags (--use-cpu, --no-half, --precision, --xformers)."""
from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass

import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Precision:
    device: torch.device
    unet_dtype: torch.dtype
    vae_dtype: torch.dtype
    text_dtype: torch.dtype

    @property
    def label(self) -> str:
        return f"{self.device.type}/unet={str(self.unet_dtype).removeprefix('torch.')}"

    def component_dtypes(self) -> dict[str, torch.dtype]:
        """The dtype each pipeline component is loaded in (so a load casts once, straight to these)."""
        return {"unet": self.unet_dtype, "vae": self.vae_dtype, "text_encoder": self.text_dtype,
                "text_encoder_2": self.text_dtype}


def choose_precision(cmd_opts: argparse.Namespace) -> Precision:
    use_cpu = cmd_opts.use_cpu is not None
    if torch.cuda.is_available() and not use_cpu:
        device = torch.device("cuda", int(cmd_opts.device_id or 0))
    else:
        device = torch.device("cpu")
    precision = cmd_opts.precision
    if precision in ("full", "fp32") or (device.type == "cuda" and cmd_opts.no_half):
        unet = torch.float32
    elif precision == "bf16":
        unet = torch.bfloat16
    elif device.type == "cuda":
        unet = torch.float16
    elif precision in ("half", "fp16"):
        logger.warning("--precision %s is not supported on the CPU; using float32 (bf16 is)", precision)
        unet = torch.float32
    else:
        unet = torch.float32
    if device.type == "cpu":
        # bf16 text encoder and VAE measured faster on this CPU too (docs/performance.md); fp16 is not used there
        half = unet == torch.bfloat16
        vae = unet if half and not (cmd_opts.no_half or cmd_opts.no_half_vae) else torch.float32
        text = unet if half and not cmd_opts.no_half else torch.float32
    else:
        vae = torch.float32 if (cmd_opts.no_half or cmd_opts.no_half_vae) else unet
        text = unet
    return Precision(device, unet, vae, text)


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads do not speed up the GEMMs/convolutions)."""
    import psutil

    physical = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else physical
    logical = psutil.cpu_count(logical=True) or physical
    per_core = max(1, logical // physical)
    return max(1, min(physical, allowed // per_core if allowed < logical else physical))


def configure_cpu_threads() -> int:
    """Set torch's intra-op threads to the physical cores, unless OMP_NUM_THREADS says otherwise."""
    if os.environ.get("OMP_NUM_THREADS"):
        threads = torch.get_num_threads()
        logger.info("CPU threads: %d (OMP_NUM_THREADS)", threads)
        return threads
    threads = physical_cores()
    torch.set_num_threads(threads)
    logger.info("CPU threads: %d (physical cores)", threads)
    return threads


def configure_attention(pipe, xformers: bool, device: torch.device) -> str:
    """Use PyTorch SDPA (diffusers' default); xformers only when asked, installed and on CUDA."""
    if not xformers:
        return "sdpa"
    if device.type != "cuda":
        logger.warning("--xformers ignored: xformers only works on CUDA; using PyTorch SDPA attention")
        return "sdpa"
    try:
        import xformers  # noqa: F401
    except ImportError:
        logger.warning("--xformers ignored: xformers is not installed; using PyTorch SDPA attention")
        return "sdpa"
    pipe.enable_xformers_memory_efficient_attention()
    return "xformers"
