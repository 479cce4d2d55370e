"""torch.compile of the UNet and the VAE decoder (--compile), in a bounded set of input-shape buckets.

Each compiled module keeps its identity and state_dict keys: only its `forward` is replaced by a dispatcher that
sends inputs of an already compiled shape (tensor shapes and dtypes, e.g. batch 2 x 4 x 64 x 64 for one 512px
image with CFG) to the compiled code, compiles a new bucket while fewer than `max_shapes` exist (the time is
logged and kept in `CompileStats`), and runs anything beyond that eagerly, so unusual sizes never trigger an
unbounded series of recompilations. Weights stay graph inputs (no freezing), so LoRA patches made in place are
seen by the compiled code. `warm_up` compiles the buckets of the --compile-warmup sizes right after a load.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

logger = logging.getLogger(__name__)
MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CUDAGRAPH_MODES = ("reduce-overhead", "max-autotune")
# Chosen by measurement on the CPU (docs/performance.md); on CUDA from the public SD figures (not measured here):
# max-autotune adds CUDA graphs for the static shapes of each bucket.
DEFAULT_MODE = {"cpu": "default", "cuda": "max-autotune"}


@dataclass
class CompileSettings:
    enabled: bool = False
    mode: str = "auto"  # "auto": DEFAULT_MODE of the device
    warmup: list[tuple[int, int]] = field(default_factory=list)  # (width, height)
    max_shapes: int = 4
    backend: str = "inductor"  # tests use dynamo's "eager" backend: same guards and buckets, no code generation

    def mode_for(self, device: torch.device) -> str:
        return DEFAULT_MODE.get(device.type, "default") if self.mode == "auto" else self.mode


def parse_sizes(text: str | None, flag: str = "--compile-warmup") -> list[tuple[int, int]]:
    """"512x512,768x768" -> [(512, 512), (768, 768)]; a bad entry raises ValueError naming `flag`."""
    sizes = []
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        width, sep, height = part.lower().partition("x")
        if not sep or not width.isdigit() or not height.isdigit() or int(width) % 8 or int(height) % 8:
            raise ValueError(f"{flag}: {part!r} is not WIDTHxHEIGHT with multiples of 8 (e.g. 512x512)")
        sizes.append((int(width), int(height)))
    return sizes


@dataclass
class BucketRecord:
    component: str
    shape: str
    seconds: float


@dataclass
class CompileStats:
    """What was compiled and how long it took (shown in /sdapi/v1/memory under easel.compile)."""

    mode: str = ""
    buckets: list[BucketRecord] = field(default_factory=list)
    eager_calls: int = 0  # calls beyond max_shapes, run without compiling
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: BucketRecord) -> None:
        with self._lock:
            self.buckets.append(record)

    def as_dict(self) -> dict:
        with self._lock:
            return {"mode": self.mode, "compile_seconds": round(sum(b.seconds for b in self.buckets), 3),
                    "eager_calls": self.eager_calls,
                    "buckets": [{"component": b.component, "shape": b.shape, "seconds": round(b.seconds, 3)}
                                for b in self.buckets]}


def _shape_key(value: object) -> object:
    if isinstance(value, torch.Tensor):
        return (tuple(value.shape), str(value.dtype).removeprefix("torch."))
    if isinstance(value, dict):
        return tuple((k, _shape_key(v)) for k, v in sorted(value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_shape_key(v) for v in value)
    return value if isinstance(value, (int, float, str, bool, type(None))) else type(value).__name__


def _describe(key: object) -> str:
    shapes = []

    def walk(item):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], tuple) and isinstance(item[1], str):
            shapes.append("x".join(map(str, item[0])) + f":{item[1]}")
        elif isinstance(item, tuple):
            for sub in item:
                walk(sub)

    walk(key)
    return ", ".join(shapes)


def _float_timestep(timestep: object) -> object:
    """Integer timesteps (DDIM, DPM++) as float32: one bucket for every sampler. Exact: the UNet's time
    embedding converts them to float first."""
    if isinstance(timestep, torch.Tensor) and not timestep.is_floating_point():
        return timestep.to(torch.float32)
    return timestep


class BucketedForward:
    """A module's forward: compiled for up to `max_shapes` input-shape buckets, eager beyond them."""

    def __init__(self, module: torch.nn.Module, component: str, mode: str, max_shapes: int, stats: CompileStats,
                 backend: str = "inductor"):
        self.eager: Callable = module.forward
        options = {"mode": mode} if backend == "inductor" else {}
        self.compiled: Callable = torch.compile(self.eager, backend=backend, dynamic=False, **options)
        self.component, self.max_shapes, self.stats = component, max_shapes, stats
        self.cudagraphs = mode in CUDAGRAPH_MODES and next(module.parameters()).device.type == "cuda"
        self.buckets: set[object] = set()
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        if self.component == "unet" and len(args) > 1:
            args = (args[0], _float_timestep(args[1]), *args[2:])
        key = (_shape_key(args), _shape_key(kwargs))
        if key not in self.buckets:
            with self._lock:
                if key not in self.buckets and len(self.buckets) >= self.max_shapes:
                    self.stats.eager_calls += 1
                    return self.eager(*args, **kwargs)
                if key not in self.buckets:
                    return self._compile_bucket(key, args, kwargs)
        return self._run(args, kwargs)

    def _run(self, args, kwargs):
        if self.cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()  # each call is a new step: outputs are not reused
        return self.compiled(*args, **kwargs)

    def _compile_bucket(self, key, args, kwargs):
        started = time.perf_counter()
        out = self._run(args, kwargs)
        seconds = time.perf_counter() - started
        self.buckets.add(key)
        self.stats.add(BucketRecord(self.component, _describe(key), seconds))
        logger.info("compiled %s for %s in %.1fs (%d of %d shape buckets)", self.component, _describe(key), seconds,
                    len(self.buckets), self.max_shapes)
        return out


def compile_module(module: torch.nn.Module, component: str, mode: str, max_shapes: int, stats: CompileStats,
                   backend: str = "inductor") -> BucketedForward:
    """Replace `module.forward` by a BucketedForward (idempotent)."""
    current = module.__dict__.get("forward")
    if isinstance(current, BucketedForward):
        return current
    wrapper = BucketedForward(module, component, mode, max_shapes, stats, backend)
    module.forward = wrapper  # type: ignore[method-assign]
    return wrapper


def compile_pipeline(pipe, settings: CompileSettings, device: torch.device) -> CompileStats:
    """Compile the UNet and the VAE decoder of `pipe` (lazily: each bucket on its first call)."""
    stats = CompileStats(mode=settings.mode_for(device))
    compile_module(pipe.unet, "unet", stats.mode, settings.max_shapes, stats, settings.backend)
    compile_module(pipe.vae.decoder, "vae.decoder", stats.mode, settings.max_shapes, stats, settings.backend)
    logger.info("torch.compile (%s) on for the UNet and the VAE decoder; up to %d shape buckets each", stats.mode,
                settings.max_shapes)
    return stats


def _unet_inputs(pipe, family: str, width: int, height: int, batch: int) -> tuple[tuple, dict]:
    """Inputs shaped and typed exactly as the sampling loop passes them (engine/sampling.py)."""
    unet, scale = pipe.unet, pipe.vae_scale_factor
    dtype, device = next(unet.parameters()).dtype, next(unet.parameters()).device
    channels = unet.config.in_channels
    sample = torch.zeros(batch, channels, height // scale, width // scale, device=device, dtype=dtype)
    context = torch.zeros(batch, 77, unet.config.cross_attention_dim, device=device, dtype=dtype)
    timestep = torch.full((batch,), 999.0, device=device)  # UNetRunner passes one timestep per row
    kwargs: dict = {"encoder_hidden_states": context}
    if family == "sdxl":
        pooled = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
        kwargs["added_cond_kwargs"] = {"text_embeds": torch.zeros(batch, pooled, device=device, dtype=dtype),
                                       "time_ids": torch.zeros(batch, 6, device=device, dtype=dtype)}
    return (sample, timestep), kwargs


def warm_up(pipe, family: str, sizes: Iterable[tuple[int, int]], batch: int = 2) -> float:
    """Compile the buckets of `sizes` (one CFG UNet call at `batch`, one VAE decode each); returns seconds."""
    started = time.perf_counter()
    vae = pipe.vae
    vae_dtype, device = next(vae.parameters()).dtype, next(vae.parameters()).device
    with torch.no_grad():  # as the sampling loop and the decoder run (grad mode is part of dynamo's guards)
        for width, height in sizes:
            args, kwargs = _unet_inputs(pipe, family, width, height, batch)
            pipe.unet(*args, **kwargs)
            scale = pipe.vae_scale_factor
            latents = torch.zeros(1, vae.config.latent_channels, height // scale, width // scale, device=device,
                                  dtype=vae_dtype)
            vae.decode(latents)
    seconds = time.perf_counter() - started
    logger.info("compile warm-up for %s took %.1fs", ", ".join(f"{w}x{h}" for w, h in sizes), seconds)
    return seconds
