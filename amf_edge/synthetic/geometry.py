"""Pinhole camera and vectorised ray casting against analytic shapes (numpy-only).

World frame: metres, z up, floor at z = 0. Camera frame: x right, y down, z forward (OpenCV). Rays are
scaled to unit camera-z, so the ray parameter t of a hit *is* the z-depth a depth sensor reports.

Every shape has `corners()`, points (3, n) whose convex hull contains it; `intersect(origin, rays)`, the
ray parameter t > 0 of the first hit along origin + t·ray (inf on a miss) for rays (3, ...); and
`surface(points)`, unit normals (3, n) and surface coordinates uv (2, n) in metres for textures.
`cast` keeps the nearest hit per pixel.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from amf_edge.sample import Intrinsics

Window = tuple[slice, slice]
"""Rows and columns of the image a shape can cover."""

_FULL: Window = (slice(None), slice(None))
_NEAR = 1e-3  # metres: a shape reaching behind this plane cannot be bounded by projecting its corners


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera: `rotation` columns are the camera's right, down and forward axes in the world."""

    position: np.ndarray
    rotation: np.ndarray
    intrinsics: Intrinsics
    height: int
    width: int

    @classmethod
    def looking(
        cls,
        position: np.ndarray,
        yaw: float,
        pitch: float,
        roll: float,
        intrinsics: Intrinsics,
        height: int,
        width: int,
    ) -> Camera:
        """A camera at `position` facing azimuth `yaw`, tilted up by `pitch`, rolled by `roll` (radians)."""
        forward = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)])
        right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
        down = np.cross(forward, right)
        c, s = math.cos(roll), math.sin(roll)
        rotation = np.stack([c * right + s * down, c * down - s * right, forward], axis=1)
        return cls(np.asarray(position, dtype=np.float64), rotation, intrinsics, height, width)

    @property
    def forward(self) -> np.ndarray:
        return self.rotation[:, 2]

    def rays(self) -> np.ndarray:
        """World-frame ray directions (3, H, W) float32 through the pixel centres, with unit camera-z."""
        k = self.intrinsics
        a = ((np.arange(self.width) - k.cx) / k.fx).astype(np.float32)[None, :]
        b = ((np.arange(self.height) - k.cy) / k.fy).astype(np.float32)[:, None]
        r = self.rotation.astype(np.float32)
        return np.stack([r[i, 0] * a + r[i, 1] * b + r[i, 2] for i in range(3)])

    def window(self, corners: np.ndarray) -> Window | None:
        """Image rows/columns that may see the convex hull of `corners` (3, n); None if none can."""
        local = self.rotation.T @ (corners - self.position[:, None])
        if (local[2] < _NEAR).any():
            return _FULL
        k = self.intrinsics
        u = k.fx * local[0] / local[2] + k.cx
        v = k.fy * local[1] / local[2] + k.cy
        c0, c1 = max(math.floor(u.min()), 0), min(math.ceil(u.max()) + 1, self.width)
        r0, r1 = max(math.floor(v.min()), 0), min(math.ceil(v.max()) + 1, self.height)
        if c0 >= c1 or r0 >= r1:
            return None
        return slice(r0, r1), slice(c0, c1)


def _box_corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.array(list(itertools.product(*zip(lo, hi)))).T


def _rotate_z(x: np.ndarray, y: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    return c * x - s * y, s * x + c * y


def _nearest_root(half_b: np.ndarray, a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Smaller root of a t² + 2 half_b t + c = 0; NaN where there is none (a ray missing a quadric)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (-half_b - np.sqrt(half_b * half_b - a * c)) / a


def _positive(t: np.ndarray, hit: np.ndarray | bool = True) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(hit & (t > 0), t, np.float32(np.inf))


@dataclass(frozen=True, eq=False)
class Plane:
    """A room face: the axis-aligned rectangle `lo`..`hi` (flat along `axis`), normal pointing `inward`.

    `intersect` ignores the rectangle's bounds: seen from inside a closed box, the nearest forward hit
    among its six faces always lies within that face.
    """

    lo: np.ndarray
    hi: np.ndarray
    axis: int
    inward: float

    @property
    def uv_axes(self) -> tuple[int, int]:
        """The world axes that span the face, in order: (x, y) for floor and ceiling, (x or y, z) for walls."""
        a, b = (i for i in range(3) if i != self.axis)
        return a, b

    def corners(self) -> np.ndarray:
        return _box_corners(self.lo, self.hi)

    def intersect(self, origin: np.ndarray, rays: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return _positive(float(self.lo[self.axis] - origin[self.axis]) / rays[self.axis])

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        normals = np.zeros_like(points)
        normals[self.axis] = self.inward
        return normals, points[list(self.uv_axes)]


@dataclass(frozen=True, eq=False)
class Box:
    """A box standing upright, turned by `yaw` about the vertical through `center`."""

    center: np.ndarray
    half: np.ndarray
    yaw: float = 0.0

    def corners(self) -> np.ndarray:
        local = _box_corners(-self.half, self.half)
        x, y = _rotate_z(local[0], local[1], self.yaw)
        return np.stack([x, y, local[2]]) + self.center[:, None]

    def _to_local(self, vectors: np.ndarray) -> list[np.ndarray]:
        x, y = _rotate_z(vectors[0], vectors[1], -self.yaw)
        return [x, y, vectors[2]]

    def intersect(self, origin: np.ndarray, rays: np.ndarray) -> np.ndarray:
        o = [float(v) for v in self._to_local(origin - self.center)]
        d = self._to_local(rays)
        half = self.half.tolist()
        t_in, t_out = np.float32(-np.inf), np.float32(np.inf)
        # Slab test; a zero direction component divides to ±inf, which the min/max handle correctly.
        with np.errstate(divide="ignore", invalid="ignore"):
            for k in range(3):
                inv = 1 / d[k]
                t1, t2 = (-half[k] - o[k]) * inv, (half[k] - o[k]) * inv
                t_in = np.maximum(t_in, np.minimum(t1, t2))
                t_out = np.minimum(t_out, np.maximum(t1, t2))
            return _positive(t_in, t_in <= t_out)

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        local = np.stack(self._to_local(points - self.center[:, None].astype(np.float32)))
        # The face hit is the axis along which the point is proportionally furthest out.
        axis = np.argmax(np.abs(local) / self.half[:, None].astype(np.float32), axis=0)
        idx = np.arange(points.shape[1])
        normal_local = np.zeros_like(local)
        normal_local[axis, idx] = np.sign(local[axis, idx])
        nx, ny = _rotate_z(normal_local[0], normal_local[1], self.yaw)
        uv_axes = np.array([[1, 2], [0, 2], [0, 1]])[axis]
        uv = np.stack([local[uv_axes[:, 0], idx], local[uv_axes[:, 1], idx]])
        return np.stack([nx, ny, normal_local[2]]), uv


@dataclass(frozen=True, eq=False)
class Cylinder:
    """An upright cylinder standing on a support (so its bottom disc is never visible)."""

    center: np.ndarray  # (x, y) of the axis
    bottom: float
    top: float
    radius: float

    def corners(self) -> np.ndarray:
        r = self.radius
        return _box_corners(
            np.array([self.center[0] - r, self.center[1] - r, self.bottom]),
            np.array([self.center[0] + r, self.center[1] + r, self.top]),
        )

    def intersect(self, origin: np.ndarray, rays: np.ndarray) -> np.ndarray:
        ox, oy, oz = (float(v) for v in (origin[0] - self.center[0], origin[1] - self.center[1], origin[2]))
        dx, dy, dz = rays
        t_side = _nearest_root(ox * dx + oy * dy, dx * dx + dy * dy, ox * ox + oy * oy - self.radius**2)
        with np.errstate(invalid="ignore"):
            z = oz + t_side * dz
            t = _positive(t_side, (z >= self.bottom) & (z <= self.top))
        with np.errstate(divide="ignore", invalid="ignore"):
            t_cap = (self.top - oz) / dz
            on_cap = (ox + t_cap * dx) ** 2 + (oy + t_cap * dy) ** 2 <= self.radius**2
        return np.minimum(t, _positive(t_cap, on_cap))

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = points[0] - np.float32(self.center[0])
        y = points[1] - np.float32(self.center[1])
        on_cap = points[2] > self.top - 1e-4
        rho = np.maximum(np.hypot(x, y), 1e-6)
        up = np.array([0, 0, 1], np.float32)[:, None]
        normals = np.where(on_cap, up, np.stack([x / rho, y / rho, np.zeros_like(x)]))
        uv = np.where(on_cap, np.stack([x, y]), np.stack([self.radius * np.arctan2(y, x), points[2]]))
        return normals.astype(np.float32), uv.astype(np.float32)


@dataclass(frozen=True, eq=False)
class Sphere:
    center: np.ndarray
    radius: float

    def corners(self) -> np.ndarray:
        return _box_corners(self.center - self.radius, self.center + self.radius)

    def intersect(self, origin: np.ndarray, rays: np.ndarray) -> np.ndarray:
        o = (origin - self.center).tolist()
        half_b = o[0] * rays[0] + o[1] * rays[1] + o[2] * rays[2]
        a = rays[0] * rays[0] + rays[1] * rays[1] + rays[2] * rays[2]
        return _positive(_nearest_root(half_b, a, sum(v * v for v in o) - self.radius**2))

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = (points - self.center[:, None].astype(np.float32)) / np.float32(self.radius)
        n /= np.linalg.norm(n, axis=0)
        uv = self.radius * np.stack([np.arctan2(n[1], n[0]), np.arcsin(np.clip(n[2], -1, 1))])
        return n, uv.astype(np.float32)


Shape = Plane | Box | Cylinder | Sphere


def cast(camera: Camera, rays: np.ndarray, shapes: list[Shape]) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit per pixel: z-depth (H, W) float32, inf where nothing is hit, and the shape index, -1 there.

    Each shape is only tested inside the image window its bounding corners project to, which keeps
    small, distant furniture cheap.
    """
    depth = np.full((camera.height, camera.width), np.inf, dtype=np.float32)
    index = np.full((camera.height, camera.width), -1, dtype=np.int16)
    for k, shape in enumerate(shapes):
        window = camera.window(shape.corners())
        if window is None:
            continue
        t = shape.intersect(camera.position, rays[(slice(None), *window)])
        d, i = depth[window], index[window]  # views: writing to them writes the full images
        closer = t < d
        d[closer] = t[closer]
        i[closer] = k
    return depth, index
