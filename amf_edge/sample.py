"""The one sample contract every RGB-D source produces (numpy-only).

Datasets, the synthetic generator and the runtime's frame sources all hand out `RGBDSample`s, so
transforms, calibration and inference never need to know where a frame came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amf_edge.errors import AmfEdgeError

# Depth beyond this is no measurement: no RGB-D sensor ranges near it (the farthest reach tens of metres), so
# such a value is a wrong depth unit or an overflow. NaN, ±inf and negative depths are no measurement too.
MAX_DEPTH_M = 1000.0
_UINT16_MAX = 65535


def sanitize_depth_m(depth_m: np.ndarray) -> tuple[np.ndarray, int]:
    """Depth in metres with every invalid value (NaN, ±inf, negative, beyond MAX_DEPTH_M) set to 0, "no
    measurement", in place where the array is float32 and writable; and how many values were invalid.
    One invalid value must not reach the model: a single NaN spreads through every convolution and turns
    the whole frame into one class. Every source's depth passes here (RGBDSample.depth_m)."""
    depth_m = np.asarray(depth_m)
    if depth_m.dtype != np.float32 or not depth_m.flags.writeable:
        depth_m = depth_m.astype(np.float32)
    with np.errstate(invalid="ignore"):
        invalid = ~((depth_m >= 0) & (depth_m <= MAX_DEPTH_M))  # NaN compares False: invalid
    n = int(np.count_nonzero(invalid))
    if n:
        depth_m[invalid] = 0.0
    return depth_m, n


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
        """Depth in metres as float32, 0 where invalid: no measurement, or a value no sensor gives (beyond
        MAX_DEPTH_M, or not finite: a depth unit so large that float32 overflows)."""
        depth = self._scaled_depth()
        if self._depth_can_be_invalid():
            depth, _ = sanitize_depth_m(depth)
        return depth

    def invalid_depth_pixels(self) -> int:
        """How many pixels `depth_m` sets to 0 because their value is invalid (0 without looking at the pixels
        when no uint16 count times the depth unit can be)."""
        if not self._depth_can_be_invalid():
            return 0
        return sanitize_depth_m(self._scaled_depth())[1]

    def _scaled_depth(self) -> np.ndarray:
        """Counts times the unit as float32, unchecked (a huge unit overflows to inf: sanitize_depth_m's job)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self.depth.astype(np.float32) * np.float32(self.depth_unit)

    def _depth_can_be_invalid(self) -> bool:
        # uint16 counts times a positive unit are ≥ 0; only a large (or infinite) unit can leave the range
        with np.errstate(over="ignore"):
            return not float(np.float32(self.depth_unit)) * _UINT16_MAX <= MAX_DEPTH_M
