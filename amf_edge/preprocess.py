"""The preprocessing contract (numpy-only), used alike by training, calibration and the runtime.

Sensors deliver uint8 RGB and depth in their own units. The network wants:
  rgb:   float32 N×3×H×W, (x/255 − mean)/std with ImageNet statistics (the official recipe);
  depth: float32 N×1×H×W in model units, metres / `depth_divisor_m`, with 0 kept as "no measurement".

The official AsymFusion recipe multiplies the raw NYUDv2 depth PNG by 1/5000 with no mean or std. Taking
those PNGs as millimetres (as ESANet's maintainers report for NYUDv2), that is metres / 5, hence the
default divisor of 5. Keeping the contract in metres lets any camera feed the same model: the unit
conversion from raw counts happens once, in `RGBDSample.depth_m` or the runtime's source.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from amf_edge.errors import AmfEdgeError

# The version of the sensor-level → model-input conversion (ModelContract.inputs, resize_sample's semantics and
# the normalisation here). Bump it whenever that conversion changes: calibration sets record it and calibration
# caches are keyed by it, so ranges measured on the old inputs are refused instead of quietly reused.
PREPROCESS_VERSION = 1

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreprocessSpec:
    """How raw frames become network inputs; saved with every checkpoint and exported model."""

    rgb_mean: tuple[float, float, float] = IMAGENET_MEAN
    rgb_std: tuple[float, float, float] = IMAGENET_STD
    depth_divisor_m: float = 5.0
    channel_order: str = "RGB"

    def __post_init__(self) -> None:
        if self.channel_order not in ("RGB", "BGR"):
            raise AmfEdgeError(f"channel_order={self.channel_order!r}; expected 'RGB' or 'BGR'")
        if not self.depth_divisor_m > 0:
            raise AmfEdgeError(f"depth_divisor_m={self.depth_divisor_m}; expected metres per model unit > 0")
        object.__setattr__(self, "rgb_mean", tuple(float(v) for v in self.rgb_mean))
        object.__setattr__(self, "rgb_std", tuple(float(v) for v in self.rgb_std))

    def rgb(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 (N×)H×W×3 in `channel_order` → float32 N×3×H×W, normalised."""
        rgb = _batched(rgb, 4, "rgb", "uint8 H×W×3 or N×H×W×3")
        if rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
            raise AmfEdgeError(f"rgb: expected uint8 with 3 channels last, got {rgb.dtype} {rgb.shape}")
        if self.channel_order == "BGR":
            rgb = rgb[..., ::-1]
        mean = np.asarray(self.rgb_mean, np.float32) * 255
        inv_std = 1.0 / (np.asarray(self.rgb_std, np.float32) * 255)
        x = (rgb.astype(np.float32) - mean) * inv_std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def depth(self, depth_m: np.ndarray) -> np.ndarray:
        """Depth in metres, (N×)H×W, 0 = invalid → float32 N×1×H×W in model units (0 stays 0)."""
        depth_m = _batched(depth_m, 3, "depth", "float H×W or N×H×W in metres")
        if not np.issubdtype(depth_m.dtype, np.floating):
            raise AmfEdgeError(
                f"depth: expected float metres, got {depth_m.dtype}; convert raw counts first "
                "(RGBDSample.depth_m() multiplies by the depth unit)"
            )
        x = depth_m.astype(np.float32) * np.float32(1.0 / self.depth_divisor_m)
        return np.ascontiguousarray(x[:, None])

    def __call__(self, rgb: np.ndarray, depth_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both network inputs from one frame or batch; their sizes must match."""
        r, d = self.rgb(rgb), self.depth(depth_m)
        if r.shape[0] != d.shape[0] or r.shape[2:] != d.shape[2:]:
            raise AmfEdgeError(
                f"rgb is {r.shape[0]}×{r.shape[2]}×{r.shape[3]} but depth is {d.shape[0]}×{d.shape[2]}×{d.shape[3]} "
                "(N×H×W); align depth to the colour camera and resize both to the same size"
            )
        return r, d

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["rgb_mean"], d["rgb_std"] = list(self.rgb_mean), list(self.rgb_std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PreprocessSpec:
        return cls(**{**d, "rgb_mean": tuple(d["rgb_mean"]), "rgb_std": tuple(d["rgb_std"])})


def _batched(x: np.ndarray, ndim: int, name: str, expected: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == ndim - 1:
        x = x[None]
    if x.ndim != ndim:
        raise AmfEdgeError(f"{name}: expected {expected}, got shape {x.shape}")
    return x
