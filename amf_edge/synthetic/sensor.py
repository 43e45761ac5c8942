"""What an active depth camera (structured light / active stereo) reports for a rendered scene.

The true z-depth gets noise whose sigma grows with z² (disparity noise turns into depth noise that
way), and pixels lose their measurement where real sensors do: outside the working range, at depth
discontinuities (the projected pattern breaks up and is shadowed there), on surfaces seen at grazing
angles, on dark surfaces (too little infrared comes back) and on glossy ones (the pattern is mirrored
away, or saturates where the surface faces the camera head-on).
"""

from __future__ import annotations

import numpy as np

DEPTH_UNIT = 0.001  # metres per count: depth is stored in millimetres
MIN_RANGE, MAX_RANGE = 0.4, 6.0  # metres
_NOISE_BASE, _NOISE_QUADRATIC = 0.001, 0.0015  # sigma = base + k·z² in metres: ~2.5 cm at 4 m
_EDGE_JUMP = 0.03  # a relative depth jump between two different surfaces that breaks the pattern
_EDGE_SPREAD = 0.5  # chance that a pixel next to a broken edge is lost as well
_GRAZING_COS = 0.12  # below this cosine between normal and view ray, too little pattern comes back
_DARK_ALBEDO = 0.03  # linear albedo under which a surface is "dark" in every channel (black, not deep blue)
_DARK_LOSS = 0.85  # chance that a dark pixel is lost
_GLOSSY_LOSS = 0.3  # chance that a glossy pixel is lost anywhere, from speckle of the mirrored pattern
_SPECULAR_COS = 0.985  # glossy surfaces facing the camera this squarely saturate


def measure_depth(
    z: np.ndarray,
    surface: np.ndarray,
    cos_view: np.ndarray,
    albedo: np.ndarray,
    glossy: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """uint16 depth in DEPTH_UNIT counts, 0 where the sensor has no measurement.

    Args:
        z: true z-depth (H, W) in metres, inf where no surface is hit.
        surface: (H, W) id of the surface hit; depth jumps count as edges only between different surfaces.
        cos_view: (H, W) cosine between the surface normal and the direction back to the camera.
        albedo: (3, H, W) linear albedo.
        glossy: (H, W) bool.
        rng: draws the noise and the random losses.
    """
    shape = z.shape
    noise = rng.standard_normal(shape, dtype=np.float32) * (_NOISE_BASE + _NOISE_QUADRATIC * z * z)
    lost = ~((z >= MIN_RANGE) & (z <= MAX_RANGE))
    lost |= _broken_edges(z, surface, rng.random(shape, dtype=np.float32))
    lost |= cos_view < _GRAZING_COS
    dark = albedo.max(axis=0) < _DARK_ALBEDO
    lost |= dark & (rng.random(shape, dtype=np.float32) < _DARK_LOSS)
    lost |= glossy & ((cos_view > _SPECULAR_COS) | (rng.random(shape, dtype=np.float32) < _GLOSSY_LOSS))
    with np.errstate(invalid="ignore"):
        counts = np.rint((z + noise) / DEPTH_UNIT)
    return np.where(lost, 0, counts).astype(np.uint16)


def _broken_edges(z: np.ndarray, surface: np.ndarray, chance: np.ndarray) -> np.ndarray:
    """Pixels on either side of a depth discontinuity, widened by one pixel at random."""
    edge = np.zeros(z.shape, dtype=bool)
    with np.errstate(invalid="ignore"):  # inf - inf where nothing is hit
        for axis in (0, 1):
            a, b = _neighbours(z, axis)
            sa, sb = _neighbours(surface, axis)
            jump = (sa != sb) & (np.abs(a - b) > _EDGE_JUMP * np.minimum(a, b))
            ea, eb = _neighbours(edge, axis)
            ea |= jump
            eb |= jump
    grown = edge.copy()
    for axis in (0, 1):
        ga, gb = _neighbours(grown, axis)
        ea, eb = _neighbours(edge, axis)
        ga |= eb
        gb |= ea
    return edge | (grown & (chance < _EDGE_SPREAD))


def _neighbours(image: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Views of `image` without its last and without its first row (axis 0) or column (axis 1)."""
    if axis == 0:
        return image[:-1], image[1:]
    return image[:, :-1], image[:, 1:]
