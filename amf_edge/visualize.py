"""Pictures of a segmentation (numpy-only): palette overlays, colourised depth, side-by-side mosaics."""

from __future__ import annotations

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet

# Anchor colours of a perceptually ordered map (dark blue → cyan → yellow → red), interpolated to 256.
_DEPTH_ANCHORS = np.array([[48, 18, 59], [40, 118, 250], [27, 208, 213], [98, 252, 108], [210, 233, 53],
                           [254, 155, 45], [217, 56, 6], [122, 4, 3]], np.float32)
_DEPTH_LUT = np.stack(
    [np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_DEPTH_ANCHORS)), _DEPTH_ANCHORS[:, c]) for c in range(3)],
    axis=1
).astype(np.uint8)


def overlay(rgb: np.ndarray, labels: np.ndarray, label_set: LabelSet, alpha: float = 0.5) -> np.ndarray:
    """Blend the class colours over the image: (1 − alpha)·rgb + alpha·palette[labels]; ignore stays as rgb."""
    if rgb.shape[:2] != labels.shape:
        raise AmfEdgeError(f"overlay: image is {rgb.shape[0]}×{rgb.shape[1]} "
                           f"but labels are {labels.shape[0]}×{labels.shape[1]}")
    colours = label_set.colorize(labels).astype(np.float32)
    blended = (1 - alpha) * rgb.astype(np.float32) + alpha * colours
    known = (labels < label_set.num_classes)[..., None]
    return np.where(known, blended + 0.5, rgb).astype(np.uint8)


def colorize_depth(depth_m: np.ndarray, max_m: float | None = None) -> np.ndarray:
    """Depth in metres → RGB, near dark blue to far red; invalid (0) black. `max_m` defaults to the 99th percentile."""
    valid = depth_m > 0
    if max_m is None:
        max_m = float(np.percentile(depth_m[valid], 99)) if valid.any() else 1.0
    index = np.clip(depth_m / max(max_m, 1e-6) * 255, 0, 255).astype(np.uint8)
    return np.where(valid[..., None], _DEPTH_LUT[index], 0).astype(np.uint8)


def save_image(path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image (PNG, JPEG, … by the file's suffix) with OpenCV, which stores BGR."""
    from pathlib import Path

    from amf_edge.lazy import require_module

    cv2 = require_module("cv2", "writing pictures")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        written = cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    except cv2.error:  # OpenCV raises for a suffix it has no writer for, returns False for I/O failures
        written = False
    if not written:
        raise AmfEdgeError(f"could not write {path}; "
                           "check that the folder is writable and the suffix is an image format")


def mosaic(*images: np.ndarray) -> np.ndarray:
    """Images of one height side by side (H×W×3 uint8 each)."""
    heights = {img.shape[0] for img in images}
    if len(heights) != 1:
        raise AmfEdgeError(f"mosaic: images must share one height, got {sorted(heights)}")
    return np.concatenate(images, axis=1)
