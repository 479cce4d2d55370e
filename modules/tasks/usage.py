"""What a task cost: worker seconds, model-load seconds, images and pixels. Measured by the worker that ran it and
kept in the task store with the record (so usage reports survive restarts).

- `run_seconds`: wall time from the worker's claim to the end of the handler;
- `cpu_seconds`: CPU time (user + system, all threads) of the worker's process over that span. A process that runs
  several workers at once charges the overlap to each of its running tasks;
- `gpu_seconds`: wall time the task held an accelerator (CUDA, MPS, XPU) inside the model lock; 0 on CPU;
- `load_seconds`: checkpoint loads (disk or RAM cache) the task waited for;
- `images` / `pixels`: result images the task returned and the sum of their width x height;
- `cache_hit`: the results were copied from an identical earlier task (--result-cache), nothing was generated.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any

USAGE_COLUMNS = {"run_seconds": "REAL", "cpu_seconds": "REAL", "gpu_seconds": "REAL", "load_seconds": "REAL",
                 "image_count": "INTEGER", "pixels": "INTEGER", "cache_hit": "INTEGER"}
"""The task-store columns of a TaskUsage (`images` is stored as image_count: `images` holds the result keys)."""


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class TaskUsage:
    run_seconds: float = 0.0
    cpu_seconds: float = 0.0
    gpu_seconds: float = 0.0
    load_seconds: float = 0.0
    images: int = 0
    pixels: int = 0
    cache_hit: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("run_seconds", "cpu_seconds", "gpu_seconds", "load_seconds"):
            data[name] = round(data[name], 6)
        return data

    def add_images(self, images: Iterable[Any]) -> None:
        """Count result images (anything with PIL's `.size`)."""
        for image in images:
            width, height = image.size
            self.images += 1
            self.pixels += int(width) * int(height)

    def to_columns(self) -> dict[str, Any]:
        return {"run_seconds": self.run_seconds, "cpu_seconds": self.cpu_seconds, "gpu_seconds": self.gpu_seconds,
                "load_seconds": self.load_seconds, "image_count": self.images, "pixels": self.pixels,
                "cache_hit": int(self.cache_hit)}

    @classmethod
    def from_columns(cls, row: Any) -> TaskUsage | None:
        """From a store row (mapping of USAGE_COLUMNS); None when the task never recorded usage."""
        if row["run_seconds"] is None:
            return None
        return cls(run_seconds=row["run_seconds"], cpu_seconds=row["cpu_seconds"] or 0.0,
                   gpu_seconds=row["gpu_seconds"] or 0.0, load_seconds=row["load_seconds"] or 0.0,
                   images=row["image_count"] or 0, pixels=row["pixels"] or 0, cache_hit=bool(row["cache_hit"]))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskUsage:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class UsageMeter:
    """Measures one task's run: `start()` when the worker begins, `stop(usage)` when the handler returns."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = _process_cpu()

    def stop(self, usage: TaskUsage) -> TaskUsage:
        usage.run_seconds = time.perf_counter() - self._wall
        usage.cpu_seconds = max(0.0, _process_cpu() - self._cpu)
        return usage


@contextmanager
def device_time(usage: TaskUsage | None, device_type: str) -> Iterator[None]:
    """Charge the time inside the block to `usage.gpu_seconds` when the device is an accelerator."""
    started = time.perf_counter()
    try:
        yield
    finally:
        if usage is not None and device_type not in ("cpu", "meta"):
            usage.gpu_seconds += time.perf_counter() - started
