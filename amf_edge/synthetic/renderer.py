"""Turn a sampled `Scene` into an `RGBDSample`: ray casting, surface attributes, shading, sensor effects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amf_edge.labels import IGNORE_INDEX
from amf_edge.sample import RGBDSample
from amf_edge.synthetic.geometry import cast
from amf_edge.synthetic.layout import Scene
from amf_edge.synthetic.materials import linear_to_srgb
from amf_edge.synthetic.sensor import DEPTH_UNIT, measure_depth

_LIGHT_REACH = 3.0  # metres at which the point light's irradiance has halved
_DIRECT = 2.0  # direct light relative to the ambient share, before auto-exposure
_SPECULAR, _SHININESS = 0.6, 60.0  # Blinn-Phong highlight of glossy surfaces
_EXPOSURE_PERCENTILE, _EXPOSURE_TARGET = 98, 0.9  # auto-exposure maps this percentile to this level
_SELF_HIT = 1e-3  # shadow rays ending this close (relative) to the point hit the point itself, not a blocker


@dataclass
class _Surfels:
    """Per-pixel attributes of the first surface hit, flattened to N = H·W pixels."""

    points: np.ndarray  # (3, N) world positions
    normals: np.ndarray  # (3, N) unit normals facing the camera
    albedo: np.ndarray  # (3, N) linear RGB
    label: np.ndarray  # (N,) uint8 class ids, IGNORE_INDEX where nothing is hit
    glossy: np.ndarray  # (N,) bool


def render(scene: Scene, rng: np.random.Generator) -> RGBDSample:
    camera = scene.camera
    h, w = camera.height, camera.width
    rays = camera.rays()
    z, hit = cast(camera, rays, [part.shape for part in scene.parts])
    rays = rays.reshape(3, -1)
    surfels = _surfels(scene, rays, z.reshape(-1), hit.reshape(-1))
    ray_length = np.linalg.norm(rays, axis=0)
    view = -rays / ray_length
    cos_view = np.einsum("ij,ij->j", surfels.normals, view)
    vignette = 1 / ray_length  # the cosine falloff of a real lens darkens the corners a little
    rgb = _shade(scene, surfels, view, vignette, rng)
    depth = measure_depth(
        z, hit, cos_view.reshape(h, w), surfels.albedo.reshape(3, h, w), surfels.glossy.reshape(h, w), rng
    )
    return RGBDSample(
        rgb=rgb.reshape(h, w, 3),
        depth=depth,
        depth_unit=DEPTH_UNIT,
        label=surfels.label.reshape(h, w),
        intrinsics=camera.intrinsics,
    )


def _surfels(scene: Scene, rays: np.ndarray, z: np.ndarray, hit: np.ndarray) -> _Surfels:
    n = z.size
    s = _Surfels(
        points=np.zeros((3, n), np.float32),
        normals=np.zeros((3, n), np.float32),
        albedo=np.zeros((3, n), np.float32),
        label=np.full(n, IGNORE_INDEX, np.uint8),
        glossy=np.zeros(n, bool),
    )
    uv = np.zeros((2, n), np.float32)
    origin = scene.camera.position.astype(np.float32)[:, None]
    for part, pixels in zip(scene.parts, _group(hit, len(scene.parts))):
        points = origin + rays[:, pixels] * z[pixels]
        s.points[:, pixels] = points
        s.normals[:, pixels], uv[:, pixels] = part.shape.surface(points)
        s.albedo[:, pixels] = part.material.albedo(uv[:, pixels])
        s.label[pixels] = part.class_id
        s.glossy[pixels] = part.material.glossy
    for decal in scene.decals:
        face = np.flatnonzero(hit == decal.face)
        pixels = face[decal.covers(uv[:, face])]
        s.albedo[:, pixels] = decal.albedo(uv[:, pixels])
        s.label[pixels] = decal.class_id
        s.glossy[pixels] = decal.material.glossy
    return s


def _group(index: np.ndarray, count: int) -> list[np.ndarray]:
    """Pixel indices per value 0..count-1 of `index` (one stable sort instead of `count` scans)."""
    order = np.argsort(index, kind="stable")
    starts = np.searchsorted(index[order], np.arange(count + 1))
    return [order[a:b] for a, b in zip(starts[:-1], starts[1:])]


def _shade(scene: Scene, s: _Surfels, view: np.ndarray, vignette: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) uint8 sRGB: ambient + Lambert with shadows, Blinn-Phong on glossy surfaces, auto-exposure, noise."""
    to_light = scene.light.astype(np.float32)[:, None] - s.points
    distance = np.linalg.norm(to_light, axis=0)
    to_light /= distance
    falloff = 1 / (1 + (distance / _LIGHT_REACH) ** 2)
    lambert = np.maximum(np.einsum("ij,ij->j", s.normals, to_light), 0) * ~_in_shadow(scene, s.points)
    halfway = to_light + view
    halfway /= np.linalg.norm(halfway, axis=0)
    highlight = np.maximum(np.einsum("ij,ij->j", s.normals, halfway), 0) ** _SHININESS
    direct = lambert * falloff
    radiance = s.albedo * (scene.ambient + _DIRECT * direct) + _SPECULAR * s.glossy * highlight * direct
    white_balance_error = rng.uniform(0.92, 1.08, (3, 1)).astype(np.float32)
    radiance *= vignette * white_balance_error
    level = np.percentile(radiance[:, ::7], _EXPOSURE_PERCENTILE)
    srgb = linear_to_srgb(radiance * (_EXPOSURE_TARGET / max(float(level), 1e-6)))
    sigma = np.float32(rng.uniform(1.0, 3.0))
    noisy = srgb.T * 255 + sigma * rng.standard_normal((srgb.shape[1], 3), dtype=np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _in_shadow(scene: Scene, points: np.ndarray) -> np.ndarray:
    """(N,) True where furniture blocks the light from `points` (3, N); the room itself casts none.

    Rays go from the light to each point; only those passing through a piece's bounding cone are
    traced exactly, which keeps this cheap.
    """
    rays = points - scene.light.astype(np.float32)[:, None]
    length2 = np.einsum("ij,ij->j", rays, rays)
    shadow = np.zeros(points.shape[1], dtype=bool)
    for part in scene.furniture:
        corners = part.shape.corners()
        center = corners.mean(axis=1)
        radius = float(np.linalg.norm(corners - center[:, None], axis=0).max())
        to_center = (center - scene.light).astype(np.float32)
        dist2 = float(to_center @ to_center)
        along = to_center @ rays
        # Inside the cone from the light around the bounding sphere: cos² of the angle ≥ 1 - (r/d)².
        near = (along > 0) & (along * along >= (dist2 - radius**2) * length2) if dist2 > radius**2 else True
        candidates = np.flatnonzero(near & ~shadow)
        t = part.shape.intersect(scene.light, rays[:, candidates])
        shadow[candidates[t < 1 - _SELF_HIT]] = True
    return shadow
