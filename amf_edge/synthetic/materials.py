"""Procedural materials: two colours mixed by a pattern evaluated in surface coordinates (metres).

Each class family draws its materials from its own distribution. The furniture classes share one
distribution on purpose, so colour and texture carry no information about which furniture class a
pixel belongs to (see the package docstring).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_LATTICE = 64  # side of the random lattice behind value noise; patterns repeat after this many cells
_GAMMA = 2.2


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    return np.power(np.asarray(rgb, dtype=np.float32), np.float32(_GAMMA))


def linear_to_srgb(rgb: np.ndarray) -> np.ndarray:
    return np.power(np.clip(rgb, 0, 1), np.float32(1 / _GAMMA))


def hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    """A linear-RGB colour from display HSV (hue wraps around)."""
    return srgb_to_linear(colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def _value_noise(lattice: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Smoothly interpolated lattice noise in [0, 1] with one feature per unit of x and y."""
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)  # smoothstep hides the lattice grid
    ix, iy = x0.astype(np.int64) & (_LATTICE - 1), y0.astype(np.int64) & (_LATTICE - 1)
    jx, jy = (ix + 1) & (_LATTICE - 1), (iy + 1) & (_LATTICE - 1)
    top = lattice[iy, ix] + (lattice[iy, jx] - lattice[iy, ix]) * fx
    bottom = lattice[jy, ix] + (lattice[jy, jx] - lattice[jy, ix]) * fx
    return top + (bottom - top) * fy


def _fbm(lattice: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Two octaves of value noise, contrast-stretched back to roughly [0, 1]."""
    n = (2 * _value_noise(lattice, x, y) + _value_noise(lattice, 2 * x + 17.3, 2 * y + 5.1)) / 3
    return np.clip((n - 0.5) * 2.5 + 0.5, 0, 1)


def _noise(u: np.ndarray, v: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    return _fbm(lattice[0], u, v)


def _stripes(u: np.ndarray, v: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    return np.clip(0.5 + 3 * np.sin(2 * np.pi * u), 0, 1)


def _checkers(u: np.ndarray, v: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    return (np.floor(u) + np.floor(v)) % 2


def _wood(u: np.ndarray, v: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    # Grain runs along v: rings across u, bent by noise stretched along the grain.
    rings = u + 1.5 * _value_noise(lattice[0], 0.5 * u, 0.08 * v)
    return (0.5 + 0.5 * np.sin(2 * np.pi * rings)) ** 2


def _blobs(u: np.ndarray, v: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    # Independent noise per channel: multicoloured, picture-like content.
    return np.stack([_fbm(lattice[c], u, v) for c in range(3)])


_PATTERNS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "noise": _noise,
    "stripes": _stripes,
    "checkers": _checkers,
    "wood": _wood,
    "blobs": _blobs,
}


@dataclass(frozen=True, eq=False)
class Material:
    """Albedo = colors[0] where the pattern is 0, colors[1] where it is 1 (linear RGB)."""

    colors: np.ndarray  # (2, 3) float32
    pattern: str
    period: float  # metres per pattern repeat
    angle: float  # pattern orientation in the surface plane, radians
    lattice: np.ndarray  # (3, _LATTICE, _LATTICE) uniform noise, one plane per colour channel
    glossy: bool = False

    def albedo(self, uv: np.ndarray) -> np.ndarray:
        """(3, n) linear albedo at surface coordinates `uv` (2, n) in metres."""
        c, s = math.cos(self.angle) / self.period, math.sin(self.angle) / self.period
        u, v = c * uv[0] + s * uv[1], c * uv[1] - s * uv[0]
        mix = _PATTERNS[self.pattern](u, v, self.lattice)
        return self.colors[0][:, None] + (self.colors[1] - self.colors[0])[:, None] * mix


def _material(
    rng: np.random.Generator,
    first: np.ndarray,
    second: np.ndarray,
    pattern: str,
    period: float,
    glossy: bool = False,
    angle: float | None = None,
) -> Material:
    """A material with a fresh noise lattice, turned by `angle` (random when None)."""
    return Material(
        colors=np.stack([first, second]).astype(np.float32),
        pattern=pattern,
        period=float(period),
        angle=float(rng.uniform(0, math.pi)) if angle is None else angle,
        lattice=rng.random((3, _LATTICE, _LATTICE), dtype=np.float32),
        glossy=glossy,
    )


def floor_material(rng: np.random.Generator) -> Material:
    """Wood planks, light tiles or carpet; always muted and never dark (rugs are the saturated ones)."""
    style = rng.integers(3)
    if style == 0:  # browns only
        hue, sat, val = rng.uniform(0.05, 0.11), rng.uniform(0.35, 0.6), rng.uniform(0.4, 0.7)
        return _material(rng, hsv(hue, sat, val), hsv(hue, sat, val * 0.7), "wood", rng.uniform(0.08, 0.2))
    hue = rng.random()
    if style == 1:
        sat, val = rng.uniform(0, 0.12), rng.uniform(0.6, 0.9)
        return _material(rng, hsv(hue, sat, val), hsv(hue, sat, val * 0.85), "checkers", rng.uniform(0.3, 0.6))
    sat, val = rng.uniform(0.05, 0.25), rng.uniform(0.35, 0.7)
    return _material(rng, hsv(hue, sat, val), hsv(hue, sat, val * 0.85), "noise", rng.uniform(0.03, 0.08))


def wall_material(rng: np.random.Generator) -> Material:
    """Pastel paint, sometimes vertically striped wallpaper; never as white as a whiteboard."""
    hue, sat, val = rng.random(), rng.uniform(0.05, 0.3), rng.uniform(0.55, 0.8)
    pattern = "stripes" if rng.random() < 0.25 else "noise"
    # Wall uv is (along the wall, height): angle 0 makes stripes vertical.
    return _material(rng, hsv(hue, sat, val), hsv(hue, sat, val * 0.93), pattern, rng.uniform(0.1, 0.3), angle=0.0)


def ceiling_material(rng: np.random.Generator) -> Material:
    hue, sat, val = rng.random(), rng.uniform(0, 0.04), rng.uniform(0.85, 0.95)
    return _material(rng, hsv(hue, sat, val), hsv(hue, sat, val * 0.97), "noise", 0.5)


def furniture_material(rng: np.random.Generator) -> Material:
    """The one distribution every furniture class draws from: any hue, dark to light, any texture."""
    pattern = ("noise", "wood", "stripes", "checkers")[rng.integers(4)]
    hue, sat, val = rng.random(), rng.uniform(0, 0.7), rng.uniform(0.06, 0.85)
    # Contrast near 1 makes a plain-looking surface.
    second = hsv(hue + rng.uniform(-0.05, 0.05), sat, val * rng.uniform(0.5, 0.97))
    return _material(rng, hsv(hue, sat, val), second, pattern, rng.uniform(0.05, 0.3), glossy=rng.random() < 0.2)


def rug_material(rng: np.random.Generator) -> Material:
    """Saturated, high-contrast two-colour patterns: what sets a rug apart from the muted floor.

    Never black, so the depth sensor sees a rug exactly like the floor around it (same for pictures).
    """
    hue, sat = rng.random(), rng.uniform(0.55, 0.9)
    first = hsv(hue, sat, rng.uniform(0.45, 0.85))
    second = hsv(hue + rng.uniform(0.25, 0.75), sat, rng.uniform(0.3, 0.8))
    pattern = ("stripes", "checkers", "noise")[rng.integers(3)]
    return _material(rng, first, second, pattern, rng.uniform(0.1, 0.4))


def picture_material(rng: np.random.Generator) -> Material:
    """Multicoloured blobs: each channel mixes between a dark and a bright level independently."""
    dark = srgb_to_linear(rng.uniform(0.25, 0.45, 3))
    bright = srgb_to_linear(rng.uniform(0.6, 1.0, 3))
    return _material(rng, dark, bright, "blobs", rng.uniform(0.05, 0.25))


def whiteboard_material(rng: np.random.Generator) -> Material:
    """Bright white. Not glossy: a glossy board would lose depth, a depth cue to an appearance-only class."""
    val = rng.uniform(0.93, 0.99)
    return _material(rng, hsv(0, 0, val), hsv(0, 0, val * 0.97), "noise", 0.5)
