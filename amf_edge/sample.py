"""The one sample contract every RGB-D source produces (numpy-only).

Datasets, the synthetic generator and the runtime's frame sources all hand out `RGBDSample`s, so
transforms, calibration and inference never need to know where a frame came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amf_edge.errors import AmfEdgeError


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of the image they belong to."""

    fx: float
    fy: float
    cx: float
    cy: float

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)


@dataclass
class RGBDSample:
    """One aligned RGB-D frame.

    Attributes:
        rgb: uint8 H×W×3 in RGB channel order.
        depth: uint16 H×W raw sensor counts aligned to `rgb`; 0 means no measurement.
        depth_unit: metres per depth count (0.001 for millimetres, 0.0002 for TUM's factor 5000).
        label: uint8 H×W class ids with 255 = ignore, or None where there is no ground truth.
        intrinsics: the colour camera's pinhole intrinsics, when known.
    """

    rgb: np.ndarray
    depth: np.ndarray
    depth_unit: float
    label: np.ndarray | None = None
    intrinsics: Intrinsics | None = None

    def __post_init__(self) -> None:
        h, w = self.depth.shape[:2]
        checks = [
            (self.rgb.dtype == np.uint8 and self.rgb.ndim == 3 and self.rgb.shape[2] == 3,
             "rgb", "uint8 H×W×3", self.rgb),
            (self.depth.dtype == np.uint16 and self.depth.ndim == 2, "depth", "uint16 H×W", self.depth),
        ]
        if self.label is not None:
            checks.append((self.label.dtype == np.uint8 and self.label.ndim == 2, "label", "uint8 H×W", self.label))
        for ok, name, expected, arr in checks:
            if not ok:
                raise AmfEdgeError(f"sample {name}: expected {expected}, got {arr.dtype} {arr.shape}")
        for name, arr in (("rgb", self.rgb), ("label", self.label)):
            if arr is not None and arr.shape[:2] != (h, w):
                raise AmfEdgeError(
                    f"sample {name} is {arr.shape[0]}×{arr.shape[1]} but depth is {h}×{w}; "
                    "align depth to the colour camera first"
                )
        if not self.depth_unit > 0:
            raise AmfEdgeError(f"sample depth_unit must be metres per count > 0, got {self.depth_unit}")

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.depth.shape[0], self.depth.shape[1]

    def depth_m(self) -> np.ndarray:
        """Depth in metres as float32, 0 where invalid."""
        return self.depth.astype(np.float32) * np.float32(self.depth_unit)
