"""Transparent huge pages for freshly allocated large CPU tensors (Linux, THP in "madvise" or "always" mode).

Filling 4 GB of new fp32 weights costs about a million 4 KiB page faults; with madvise(MADV_HUGEPAGE) on the
untouched allocation the kernel backs it with 2 MiB pages instead (measured in docs/performance.md). PyTorch
only does this itself when THP_MEM_ALLOC_ENABLE=1 is set before it starts; this does it for the tensors a model
load allocates. Anywhere else (other OS, THP "never", no libc) it does nothing.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path

from torch import Tensor

log = logging.getLogger(__name__)
HUGE_PAGE = 2 << 20
MIN_BYTES = 2 * HUGE_PAGE  # smaller tensors gain little
MADV_HUGEPAGE = 14
ENV_SWITCH = "EASEL_LOAD_HUGEPAGES"  # "0" turns it off (for side-by-side measurements)
_madvise = None
_checked = False


def _thp_mode() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text(encoding="ascii")
    except OSError:
        return "never"
    return text[text.find("[") + 1:text.find("]")] if "[" in text else "never"


def _load():
    global _madvise, _checked
    _checked = True
    if not sys.platform.startswith("linux") or os.environ.get(ENV_SWITCH, "1") == "0":
        return None
    if _thp_mode() not in ("always", "madvise"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.madvise
    except (OSError, AttributeError) as exc:
        log.debug("no madvise (%s); huge pages not requested", exc)
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    _madvise = fn
    return fn


def advise(tensor: Tensor) -> bool:
    """Ask for huge pages under the 2 MiB-aligned interior of a new, untouched CPU tensor. True if asked."""
    fn = _madvise if _checked else _load()
    nbytes = tensor.numel() * tensor.element_size()
    if fn is None or nbytes < MIN_BYTES or tensor.device.type != "cpu":
        return False
    start = tensor.data_ptr()
    lo, hi = (start + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1), (start + nbytes) & ~(HUGE_PAGE - 1)
    return hi > lo and fn(lo, hi - lo, MADV_HUGEPAGE) == 0
