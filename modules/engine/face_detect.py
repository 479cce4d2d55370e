"""Face detection that needs no download: OpenCV's bundled Haar cascades (frontal face, then eyes inside it).

A1111 1.10 uses facexlib's RetinaFace, whose weights it downloads at run time; Easel stays offline, so it uses the
cascades that ship in opencv-python-headless (`cv2.data.haarcascades`). Eye centres, when both are found, let the
aligner rotate and scale the face like a landmark-based crop; otherwise the box alone places it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

Point = tuple[float, float]
_lock = threading.Lock()
_cascades: dict[str, cv2.CascadeClassifier] = {}


@dataclass(frozen=True)
class Face:
    """A detected face: its box (x, y, w, h) in image pixels and, when found, the eye centres (left, right)."""

    box: tuple[int, int, int, int]
    eyes: tuple[Point, Point] | None = None


def _cascade(name: str) -> cv2.CascadeClassifier:
    with _lock:
        if name not in _cascades:
            classifier = cv2.CascadeClassifier(cv2.data.haarcascades + name)
            if classifier.empty():
                raise RuntimeError(f"OpenCV's {name} is missing; reinstall opencv-python-headless (4.x)")
            _cascades[name] = classifier
        return _cascades[name]


def detect_faces(rgb: np.ndarray) -> list[Face]:
    """Faces in an RGB uint8 image, largest first (boxes overlapping a larger one by more than half are dropped)."""
    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    smallest = max(24, min(gray.shape) // 16)
    boxes = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(smallest, smallest))
    kept: list[tuple[int, int, int, int]] = []
    for x, y, w, h in sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: -b[2] * b[3]):
        if all(_overlap((x, y, w, h), k) <= 0.5 for k in kept):
            kept.append((x, y, w, h))
    return [Face(box, _eyes(gray, box)) for box in kept]


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / float(min(a[2] * a[3], b[2] * b[3]))


def _eyes(gray: np.ndarray, box: tuple[int, int, int, int]) -> tuple[Point, Point] | None:
    """The two eye centres in the upper 60% of the face box, one in each half, else None."""
    x, y, w, h = box
    upper = gray[y:y + int(h * 0.6), x:x + w]
    found = _cascade("haarcascade_eye.xml").detectMultiScale(upper, scaleFactor=1.1, minNeighbors=5,
                                                             minSize=(max(8, w // 10), max(8, w // 10)))
    centres = [(x + ex + ew / 2.0, y + ey + eh / 2.0, ew * eh) for ex, ey, ew, eh in found]
    left = [c for c in centres if c[0] < x + w / 2.0]
    right = [c for c in centres if c[0] >= x + w / 2.0]
    if not left or not right:
        return None
    le, re = max(left, key=lambda c: c[2]), max(right, key=lambda c: c[2])
    if not w * 0.2 <= re[0] - le[0] <= w * 0.8 or abs(re[1] - le[1]) > h * 0.25:
        return None
    return (le[0], le[1]), (re[0], re[1])
