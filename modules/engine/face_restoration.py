"""Face restoration with GFPGAN and CodeFormer weights through spandrel (A1111's `face_restoration` surface).

Per face (modules/engine/face_detect.py): align a 512x512 crop, run the model on it in [-1, 1] RGB (as A1111 and
facexlib do), paste it back with a feathered mask (modules/engine/face_align.py). GFPGAN runs with fixed noise
(`randomize_noise=False`, the noise buffers of the weights) so that the same request gives the same bytes; A1111
draws fresh noise on every call. CodeFormer takes `weight` (A1111's `code_former_weight`: 0 = strongest effect).

Which restorer: the `face_restoration_model` option when its weights are installed; otherwise the installed one
(A1111 silently restores nothing then); with none installed, nothing is restored and the generation infotext says
"Face restoration: none installed".
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from modules.engine.face_align import crop_face, face_matrix, paste_face
from modules.engine.face_detect import detect_faces
from modules.errors import InvalidRequestError
from modules.model_registry.sr_models import FACE_KINDS, SrModelFile, SrModelRegistry

logger = logging.getLogger(__name__)

RESTORERS = ("CodeFormer", "GFPGAN")  # A1111's order of shared.face_restorers
NONE_INSTALLED = "none installed"


class FaceRestorers:
    """The installed face restorers; `restore` runs one on an image."""

    def __init__(self, registry: SrModelRegistry, options, precision, *, folders: dict[str, tuple[Path, ...]],
                 gfpgan_model: str | None = None):
        self.registry = registry
        self.options = options
        self.precision = precision
        self.folders = folders
        self.gfpgan_model = gfpgan_model
        self._lock = threading.Lock()  # one face model run at a time per process

    def model_file(self, name: str) -> SrModelFile | None:
        """The weight file used for restorer `name` (GFPGAN: the --gfpgan-model file when given and present)."""
        files = self.registry.face_models(name)
        if name == "GFPGAN" and self.gfpgan_model:
            chosen = [f for f in files if self.gfpgan_model in (f.path.name, f.path.stem)]
            files = chosen or files
        return files[0] if files else None

    def installed(self) -> list[str]:
        return [name for name in RESTORERS if self.model_file(name) is not None]

    def listing(self) -> list[dict]:
        """GET /sdapi/v1/face-restorers: name and the folder its weights come from (A1111's cmd_dir)."""
        out = []
        for name in self.installed():
            entry = self.model_file(name)
            out.append({"name": name, "cmd_dir": str(entry.path.parent) if entry else None})
        return out

    def choose(self) -> str | None:
        """The restorer generation uses: the option's when installed, else the installed one, else None."""
        installed = self.installed()
        wanted = self.options.get("face_restoration_model")
        if wanted in installed:
            return wanted
        return installed[0] if installed else None

    def label(self) -> str:
        """The generation infotext's "Face restoration" value."""
        return self.choose() or NONE_INSTALLED

    def restore_generated(self, images: list[Image.Image], should_stop: Callable[[], bool] | None = None
                          ) -> list[Image.Image]:
        """Generation's restore_faces step: every image with the chosen restorer (unchanged when none)."""
        name = self.choose()
        if name is None:
            return images
        weight = float(self.options.get("code_former_weight"))
        return [image if should_stop is not None and should_stop() else self.restore(image, name, weight)
                for image in images]

    def restore(self, image: Image.Image, name: str, codeformer_weight: float = 0.5, *,
                field: str = "face_restoration_model") -> Image.Image:
        """`image` with every detected face restored by restorer `name`; InvalidRequestError(field) when that
        restorer is not installed."""
        if name not in FACE_KINDS:
            raise InvalidRequestError(f"{field}: unknown face restorer {name!r}; valid: {', '.join(RESTORERS)}",
                                      field=field)
        entry = self.model_file(name)
        if entry is None:
            folder = ", ".join(str(f) for f in self.folders.get(name, ())) or f"models/{name}"
            raise InvalidRequestError(f"{field}: {name} is not installed (no usable model file in {folder})",
                                      field=field)
        alpha = image.getchannel("A") if image.mode == "RGBA" else None
        rgb = np.array(image.convert("RGB"), dtype=np.uint8)
        faces = detect_faces(rgb)
        logger.info("%s: %d face(s) in a %dx%d image", name, len(faces), image.width, image.height)
        if faces:
            with self._lock:
                descriptor = self.registry.load(entry, self.precision.device,
                                                half=self.precision.device.type == "cuda"
                                                and self.precision.unet_dtype != torch.float32)
                for face in faces:
                    matrix = face_matrix(face)
                    restored = _run(descriptor, name, crop_face(rgb, matrix), codeformer_weight)
                    rgb = paste_face(rgb, restored, matrix)
        result = Image.fromarray(rgb, "RGB")
        if alpha is not None:
            result.putalpha(alpha)
        return result


@torch.no_grad()
def _run(descriptor, name: str, crop: np.ndarray, codeformer_weight: float) -> np.ndarray:
    """One aligned RGB uint8 crop through the model; RGB uint8 out."""
    param = next(descriptor.model.parameters())
    x = torch.from_numpy(crop.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1).unsqueeze(0)
    x = x.to(param.device, param.dtype)
    if name == "GFPGAN":
        out = descriptor.model(x, return_rgb=False, randomize_noise=False)[0]
    else:
        out = descriptor.model(x, weight=float(codeformer_weight))[0]
    out = (out.float().clamp(-1, 1) + 1.0) * 127.5
    return out[0].permute(1, 2, 0).cpu().numpy().round().astype(np.uint8)
