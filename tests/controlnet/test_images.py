"""Fitting control maps to the generation size, as the extension does (high-quality resize, resize modes,
pixel-perfect resolution)."""
from __future__ import annotations

import cv2
import numpy as np
from lib_controlnet import images


def edges(size=(80, 120)) -> np.ndarray:
    picture = np.zeros((*size, 3), np.uint8)
    cv2.rectangle(picture, (20, 15), (90, 60), (255, 255, 255), 1)  # one-pixel edges
    return picture


def test_pixel_perfect_resolution():
    image = np.zeros((300, 600, 3), np.uint8)
    assert images.pixel_perfect_resolution(image, 512, 512, "Crop and Resize") == 512  # max(512/300, 512/600) * 300
    assert images.pixel_perfect_resolution(image, 512, 512, "Resize and Fill") == 256  # min(...) * 300
    assert images.pixel_perfect_resolution(image, 512, 512, "Just Resize") == 512


def test_binary_one_pixel_edges_stay_binary_and_thin_when_upscaled():
    big = images.high_quality_resize(edges(), (240, 160))
    assert big.shape == (160, 240, 3) and set(np.unique(big)) <= {0, 255}
    cubic = cv2.resize(edges(), (240, 160), interpolation=cv2.INTER_CUBIC)
    assert len(np.unique(cubic)) > 2  # what a plain resize would give
    assert np.count_nonzero(big[:, :, 0]) < 2.5 * np.count_nonzero(edges()[:, :, 0])  # still about one pixel wide


def test_few_colour_maps_resize_with_nearest_neighbours():
    seg = np.zeros((40, 40, 3), np.uint8)
    seg[:20] = (10, 200, 30)
    seg[20:, :20] = (200, 10, 30)
    seg[20:, 20:] = (30, 10, 200)
    out = images.high_quality_resize(seg, (100, 100))
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 3


def test_fit_map_modes():
    wide = np.full((50, 100, 3), 255, np.uint8)
    wide[:, :50] = 0
    assert images.fit_map(wide, False, "Just Resize", 64, 64).shape == (64, 64, 3)
    crop = images.fit_map(wide, False, "Crop and Resize", 64, 64)
    assert crop.shape == (64, 64, 3) and crop[:, 0].max() == 0 and crop[:, -1].min() == 255
    fill = images.fit_map(wide, False, "Resize and Fill", 64, 64)
    assert fill.shape == (64, 64, 3) and (fill[:10] == fill[0, 0]).all()  # the border fills the letterbox
    rgba = np.concatenate([wide, np.zeros((50, 100, 1), np.uint8)], axis=2)
    inpaint = images.fit_map(rgba, True, "Resize and Fill", 64, 64)
    assert inpaint.shape == (64, 64, 4) and (inpaint[:10, :, 3] == 255).all()  # the letterbox is to be painted
