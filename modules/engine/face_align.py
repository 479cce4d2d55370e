"""Aligned 512x512 face crops and pasting restored faces back with a feathered mask.

The crop puts the eyes where the FFHQ-aligned 512 template (the one GFPGAN and CodeFormer were trained on, used by
facexlib) has them: left eye (193, 240), right eye (319, 240). With only a face box, the eyes are estimated from it
(Haar boxes put the eye line about 38% down and span about 2.1 eye distances). Pasting warps the restored crop back
and blends it over a mask that is 1 inside and ramps to 0 over the crop's border, so pixels outside the warped crop
stay exactly as they were.
"""
from __future__ import annotations

import cv2
import numpy as np

from modules.engine.face_detect import Face

FACE_SIZE = 512
TEMPLATE_LEFT_EYE = (192.98, 239.95)
TEMPLATE_RIGHT_EYE = (318.90, 240.19)
EYE_LINE = 0.38  # of the Haar box height, from its top
EYE_DISTANCE = 1 / 2.1  # of the Haar box width
FEATHER = 32  # crop pixels over which the paste mask ramps to 0 at the crop border


def face_matrix(face: Face) -> np.ndarray:
    """The 2x3 similarity transform from image pixels to the aligned FACE_SIZE crop."""
    if face.eyes is not None:
        (lx, ly), (rx, ry) = face.eyes
    else:
        x, y, w, h = face.box
        half = w * EYE_DISTANCE / 2
        lx, rx, ly = x + w / 2 - half, x + w / 2 + half, y + h * EYE_LINE
        ry = ly
    src = np.array([[lx, ly], [rx, ry]], dtype=np.float64)
    dst = np.array([TEMPLATE_LEFT_EYE, TEMPLATE_RIGHT_EYE], dtype=np.float64)
    # similarity from two point pairs: z -> a z + b with complex numbers
    zs, zd = src[:, 0] + 1j * src[:, 1], dst[:, 0] + 1j * dst[:, 1]
    a = (zd[1] - zd[0]) / (zs[1] - zs[0])
    b = zd[0] - a * zs[0]
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]], dtype=np.float64)


def crop_face(rgb: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The aligned FACE_SIZE x FACE_SIZE RGB crop (edges replicated where the crop leaves the image)."""
    return cv2.warpAffine(rgb, matrix, (FACE_SIZE, FACE_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _crop_mask() -> np.ndarray:
    ramp = np.minimum(np.arange(FACE_SIZE, dtype=np.float32) + 0.5, FACE_SIZE - 0.5 - np.arange(FACE_SIZE))
    ramp = np.clip(ramp / FEATHER, 0.0, 1.0)
    return np.minimum(ramp[:, None], ramp[None, :])


def paste_face(rgb: np.ndarray, restored: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """`rgb` with the restored crop warped back and blended in; outside the crop, pixels are unchanged."""
    height, width = rgb.shape[:2]
    inverse = cv2.invertAffineTransform(matrix)
    back = cv2.warpAffine(restored, inverse, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    mask = cv2.warpAffine(_crop_mask(), inverse, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)[:, :, None]
    blended = rgb.astype(np.float32) * (1.0 - mask) + back * mask
    out = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    out[mask[:, :, 0] <= 0] = rgb[mask[:, :, 0] <= 0]
    return out
