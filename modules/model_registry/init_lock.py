"""One process-wide lock around building torch modules on the meta device.

accelerate's `init_empty_weights` patches `torch.nn.Module.register_parameter` for the whole process while it is
active, so a module built in another thread at that moment (a spandrel upscaler or face model) would get meta
parameters. Code that builds on the meta device holds this lock, and so does code that builds real modules
while a checkpoint may be loading in another thread.
"""
from __future__ import annotations

import threading

MODULE_INIT_LOCK = threading.RLock()
