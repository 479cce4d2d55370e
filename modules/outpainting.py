"""What the outpainting scripts share (scripts/outpainting_mk_2.py, scripts/poor_mans_outpainting.py): how the
canvas grows, the masks' kept rectangle, and the "matched noise" Outpainting mk2 paints the new border with (after
g-diffuser, as A1111): noise whose spectrum follows the visible picture's and whose colours follow its histogram,
so the sampler starts from something that already looks like the surroundings. NumPy only; the noise seed is
fixed (0), as in A1111, so outpainting depends only on the generation seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

DIRECTIONS = ("left", "right", "up", "down")


@dataclass
class Growth:
    """Pixels added on each side (A1111: the total rounded up to a multiple of 64, shared out in proportion)."""

    left: int
    right: int
    up: int
    down: int

    @classmethod
    def of(cls, width: int, height: int, pixels: int, directions: list[str]) -> Growth:
        left, right, up, down = (pixels if d in directions else 0 for d in DIRECTIONS)
        target_w = math.ceil((width + left + right) / 64) * 64
        target_h = math.ceil((height + up + down) / 64) * 64
        if left > 0:
            left = left * (target_w - width) // (left + right)
        if right > 0:
            right = target_w - width - left
        if up > 0:
            up = up * (target_h - height) // (up + down)
        if down > 0:
            down = target_h - height - up
        return cls(left, right, up, down)

    def passes(self) -> list[tuple[str, int]]:
        """(side, pixels) of every side that grows, in A1111's order."""
        return [(side, n) for side, n in zip(DIRECTIONS, (self.left, self.right, self.up, self.down)) if n > 0]


def keep_area(mask: Image.Image, box: tuple[int, int, int, int]) -> None:
    """Paint the kept (black) rectangle of an outpainting mask; an empty or inverted box keeps nothing (A1111
    draws the same box, which newer Pillow refuses when the strip is narrower than the growth)."""
    if box[2] >= box[0] and box[3] >= box[1]:
        ImageDraw.Draw(mask).rectangle(box, fill="black")


def _fft(data: np.ndarray) -> np.ndarray:
    """Orthonormal 2-D FFT of each channel, centred before and after."""
    out = np.empty(data.shape, dtype=np.complex128)
    for c in range(data.shape[2]):
        out[:, :, c] = np.fft.ifftshift(np.fft.fft2(np.fft.fftshift(data[:, :, c]), norm="ortho"))
    return out


def _ifft(data: np.ndarray) -> np.ndarray:
    out = np.empty(data.shape, dtype=np.complex128)
    for c in range(data.shape[2]):
        out[:, :, c] = np.fft.ifftshift(np.fft.ifft2(np.fft.fftshift(data[:, :, c]), norm="ortho"))
    return out


def _falloff_window(rows: int, cols: int) -> np.ndarray:
    """1 / ((x^2 + 1) (y^2 + 1)) over [-1, 1] scaled by the aspect ratio (A1111's window mode 1, std pi/pi)."""
    short = min(rows, cols)
    x = (np.arange(rows) / rows * 2.0 - 1.0) * (rows / short)
    y = (np.arange(cols) / cols * 2.0 - 1.0) * (cols / short)
    return 1.0 / ((x[:, None] ** 2 + 1.0) * (y[None, :] ** 2 + 1.0))


def match_cumulative_cdf(source: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Map `source`'s values so their distribution follows `template`'s (quantile mapping of unique values, as
    scikit-image's `match_histograms` does for float data)."""
    values, lookup, counts = np.unique(source.reshape(-1), return_inverse=True, return_counts=True)
    t_values, t_counts = np.unique(template.reshape(-1), return_counts=True)
    quantiles = np.cumsum(counts) / source.size
    t_quantiles = np.cumsum(t_counts) / template.size
    return np.interp(quantiles, t_quantiles, t_values)[lookup].reshape(source.shape)


def match_histograms(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-channel histogram matching of (N, C) samples (scikit-image `match_histograms(..., channel_axis=1)`)."""
    out = np.empty(source.shape, dtype=np.float64)
    for c in range(source.shape[1]):
        out[:, c] = match_cumulative_cdf(source[:, c], reference[:, c])
    return out


def matched_noise(image: np.ndarray, mask: np.ndarray, noise_q: float = 1.0, color_variation: float = 0.05
                  ) -> np.ndarray:
    """`image` (H, W, 3) in [0, 1] with `mask` (H, W, 3) in [0, 1] (1 = to paint): the masked part replaced by
    matched noise, the rest kept; (H, W, 3) float64 in [0, 1]."""
    rows, cols, channels = image.shape
    grey = mask.sum(axis=2) / 3.0
    painted = grey > 1e-6
    reference = grey < 1e-3
    windowed = image * (1.0 - np.repeat(grey[:, :, None], 3, axis=2))
    peak = windowed.max()
    if peak > 0:
        windowed = windowed / peak
    windowed = windowed + np.average(image) * mask
    source_fft = _fft(windowed)
    magnitude = np.abs(source_fft)
    with np.errstate(invalid="ignore", divide="ignore"):
        phase = source_fft / magnitude

    rng = np.random.default_rng(0)
    noise = rng.random((rows, cols, channels))
    noise_grey = noise.sum(axis=2) / 3.0
    noise = noise * color_variation + (1.0 - color_variation) * noise_grey[:, :, None]
    spectrum = _fft(noise) * _falloff_window(rows, cols)[:, :, None]
    spectrum = _fft(np.real(_ifft(spectrum)))
    shaped = np.abs(spectrum) ** 2 * magnitude ** noise_q * phase

    result = np.real(_ifft(shaped))
    result -= result.min()
    top = result.max()
    if top > 0:
        result /= top
    if painted.any() and reference.any():
        result[painted, :] = match_histograms(result[painted, :], image[reference, :])
    result = image * (1.0 - mask) + result * mask
    return np.clip(np.nan_to_num(result), 0.0, 1.0)
