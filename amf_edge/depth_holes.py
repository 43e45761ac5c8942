"""Depth that fails: regions without measurement, as sunlight, glass, black or shiny surfaces, range limits and a
loose cable make them. Training removes depth with these (train/data.py, `data.depth_dropout`) and the
depth-failure experiment (experiments/depth_failure.py) measures with them, so both mean the same failure.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from amf_edge.lazy import require_module
from amf_edge.sample import RGBDSample

BLOB_CELLS = 6  # the noise grid along the image's longer side: blobs about a sixth of the frame across


def hole_mask(shape: tuple[int, int], fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A bool H×W mask, True on `fraction` of the pixels, in smooth blobs (not salt-and-pepper: sensors lose
    surfaces, not pixels). Thresholding smooth noise at its quantile gives the fraction to the pixel."""
    h, w = shape
    if fraction <= 0:
        return np.zeros(shape, bool)
    if fraction >= 1:
        return np.ones(shape, bool)
    cv2 = require_module("cv2", "making depth holes")
    long_side = max(h, w)
    grid = (max(2, round(BLOB_CELLS * h / long_side)) + 1, max(2, round(BLOB_CELLS * w / long_side)) + 1)
    noise = cv2.resize(rng.standard_normal(grid).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return noise >= np.quantile(noise, 1 - fraction)


def remove_depth(sample: RGBDSample, fraction: float, rng: np.random.Generator) -> RGBDSample:
    """`sample` with depth set to 0 (no measurement) on `fraction` of the pixels in blobs; 1 removes all of it."""
    depth = sample.depth.copy()
    depth[hole_mask(depth.shape, fraction, rng)] = 0
    return dataclasses.replace(sample, depth=depth)
