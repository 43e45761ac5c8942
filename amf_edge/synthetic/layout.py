"""Random scene layouts: a room, a camera inside it, furniture on the floor, decals on floor and walls.

Furniture and decals are placed in the camera's horizontal field of view, so most of what a scene
contains is actually seen; every piece stands on the floor or on a free furniture top.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from amf_edge.sample import Intrinsics
from amf_edge.synthetic import materials as mat
from amf_edge.synthetic.classes import FURNITURE, SyntheticClass
from amf_edge.synthetic.geometry import Box, Camera, Cylinder, Plane, Shape, Sphere

FLOOR_FACE = 0  # the ceiling is face 1
WALL_FACES = (2, 3, 4, 5)  # x = 0, x = length, y = 0, y = width
ROOM_FACES = 6  # Scene.parts starts with the room's faces, in this order
_CAMERA_MARGIN = 0.6  # metres between the camera and any wall
_CAMERA_CLEARANCE = 0.7  # metres between the camera and any furniture
_GAP = 0.05  # metres kept between neighbouring pieces and to the walls
_FAR_PLACEMENT = 4.5  # metres: furniture is placed at most this far from the camera
_TRIES = 30


@dataclass(frozen=True, eq=False)
class Part:
    """One shape of the scene with its class and material."""

    shape: Shape
    class_id: int
    material: mat.Material


@dataclass(frozen=True, eq=False)
class Decal:
    """A zero-relief rectangle lo..hi (in the face's uv coordinates) on a room face: a rug or a picture."""

    face: int
    lo: np.ndarray
    hi: np.ndarray
    class_id: int
    material: mat.Material
    frame: float = 0.0  # width in metres of a border drawn in `frame_color`
    frame_color: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))

    def covers(self, uv: np.ndarray) -> np.ndarray:
        return np.all((uv >= self.lo[:, None]) & (uv <= self.hi[:, None]), axis=0)

    def albedo(self, uv: np.ndarray) -> np.ndarray:
        """(3, n) albedo at face coordinates `uv` (2, n) that `covers` accepted."""
        local = uv - self.lo[:, None]
        albedo = self.material.albedo(local)
        from_edge = np.minimum(local, (self.hi - self.lo)[:, None] - local).min(axis=0)
        albedo[:, from_edge < self.frame] = self.frame_color[:, None]
        return albedo


@dataclass(frozen=True, eq=False)
class Scene:
    camera: Camera
    parts: list[Part]  # the room's faces first (see ROOM_FACES), then the furniture
    decals: list[Decal]
    light: np.ndarray  # position of the point light
    ambient: float  # share of light that reaches every surface regardless of orientation

    @property
    def furniture(self) -> list[Part]:
        return self.parts[ROOM_FACES:]


def sample_scene(rng: np.random.Generator, height: int, width: int) -> Scene:
    room = rng.uniform([3.0, 3.0, 2.4], [7.0, 7.0, 3.2])
    camera = _camera(rng, room, height, width)
    parts = _room_faces(rng, room) + _Furnisher(rng, room, camera).furnish()
    decals = _rugs(rng, room, camera) + _wall_decals(rng, room, camera)
    light = np.append(rng.uniform(0.5, room[:2] - 0.5), room[2] - 0.1)
    return Scene(camera, parts, decals, light, float(rng.uniform(0.25, 0.45)))


def _camera(rng: np.random.Generator, room: np.ndarray, height: int, width: int) -> Camera:
    xy = rng.uniform(_CAMERA_MARGIN, room[:2] - _CAMERA_MARGIN)
    to_centre = room[:2] / 2 - xy
    yaw = math.atan2(to_centre[1], to_centre[0]) + rng.uniform(-0.6, 0.6)
    pitch, roll = math.radians(rng.uniform(-30, 5)), math.radians(rng.uniform(-3, 3))
    position = np.append(xy, rng.uniform(0.9, 1.7))
    fx = width / 2 / math.tan(math.radians(rng.uniform(58, 72)) / 2)
    cx = (width - 1) / 2 + rng.uniform(-0.02, 0.02) * width
    cy = (height - 1) / 2 + rng.uniform(-0.02, 0.02) * height
    return Camera.looking(position, yaw, pitch, roll, Intrinsics(fx, fx, cx, cy), height, width)


def _room_faces(rng: np.random.Generator, room: np.ndarray) -> list[Part]:
    """Floor, ceiling and four walls (one paint for all walls), in the order of FLOOR_FACE and WALL_FACES."""
    floor, ceiling, wall = mat.floor_material(rng), mat.ceiling_material(rng), mat.wall_material(rng)
    faces = [  # (flat axis, position along it, direction of the inside, class, material)
        (2, 0.0, 1.0, SyntheticClass.FLOOR, floor),
        (2, room[2], -1.0, SyntheticClass.CEILING, ceiling),
        (0, 0.0, 1.0, SyntheticClass.WALL, wall),
        (0, room[0], -1.0, SyntheticClass.WALL, wall),
        (1, 0.0, 1.0, SyntheticClass.WALL, wall),
        (1, room[1], -1.0, SyntheticClass.WALL, wall),
    ]
    parts = []
    for axis, at, inward, class_id, material in faces:
        lo, hi = np.zeros(3), room.copy()
        lo[axis] = hi[axis] = at
        parts.append(Part(Plane(lo, hi, axis, inward), class_id, material))
    return parts


def _direction_in_view(rng: np.random.Generator, camera: Camera) -> np.ndarray:
    """A random horizontal unit vector (x, y) within the camera's horizontal field of view."""
    yaw = math.atan2(camera.forward[1], camera.forward[0])
    half_fov = math.atan(camera.width / 2 / camera.intrinsics.fx)
    angle = yaw + rng.uniform(-0.9, 0.9) * half_fov
    return np.array([math.cos(angle), math.sin(angle)])


@dataclass(frozen=True, eq=False)
class _Top:
    """The free top of a standing piece, where a ball may rest."""

    center: np.ndarray  # (x, y, z) of the top face's centre
    half: np.ndarray  # (x, y) half-sizes in the piece's own frame
    yaw: float


class _Furnisher:
    """Places 3-8 pieces of furniture on the floor (and balls on free tops) without overlaps."""

    def __init__(self, rng: np.random.Generator, room: np.ndarray, camera: Camera) -> None:
        self.rng, self.room, self.camera = rng, room, camera
        self.footprints: list[tuple[np.ndarray, float]] = []  # (x, y) centre and radius
        self.tops: list[_Top] = []

    def furnish(self) -> list[Part]:
        builders: dict[int, Callable[[], list[Shape]]] = {
            SyntheticClass.CABINET: self._cabinet,
            SyntheticClass.BIN: self._bin,
            SyntheticClass.BALL: self._ball,
            SyntheticClass.TABLE: self._table,
            SyntheticClass.CRATE: self._crate,
        }
        parts = []
        for _ in range(self.rng.integers(3, 9)):
            kind = FURNITURE[self.rng.integers(len(FURNITURE))]
            material = mat.furniture_material(self.rng)
            parts += [Part(shape, kind, material) for shape in builders[kind]()]
        return parts

    def _spot(self, radius: float) -> np.ndarray | None:
        """A free floor position in view for a footprint of `radius`, or None if none was found."""
        camera_xy = self.camera.position[:2]
        for _ in range(_TRIES):
            distance = self.rng.uniform(radius + _CAMERA_CLEARANCE, _FAR_PLACEMENT)
            xy = camera_xy + distance * _direction_in_view(self.rng, self.camera)
            inside = np.all(xy >= radius + _GAP) and np.all(xy <= self.room[:2] - radius - _GAP)
            if inside and all(np.hypot(*(xy - c)) >= radius + r + _GAP for c, r in self.footprints):
                self.footprints.append((xy, radius))
                return xy
        return None

    def _standing_box(self, half: np.ndarray) -> list[Shape]:
        yaw = float(self.rng.uniform(0, math.pi))
        xy = self._spot(float(np.hypot(half[0], half[1])))
        if xy is None:
            return []
        self.tops.append(_Top(np.append(xy, 2 * half[2]), half[:2], yaw))
        return [Box(np.append(xy, half[2]), half, yaw)]

    def _cabinet(self) -> list[Shape]:
        """A tall box, 0.8-1.9 m."""
        return self._standing_box(self.rng.uniform([0.25, 0.2, 0.4], [0.6, 0.35, 0.95]))

    def _crate(self) -> list[Shape]:
        """A low box, 0.24-0.5 m."""
        return self._standing_box(self.rng.uniform([0.2, 0.2, 0.12], [0.45, 0.45, 0.25]))

    def _table(self) -> list[Shape]:
        """A thin top at 0.68-0.78 m on four legs: free space underneath, unlike a crate."""
        half = np.array([*self.rng.uniform([0.4, 0.3], [0.8, 0.5]), 0.02])
        height = self.rng.uniform(0.68, 0.78)
        yaw = float(self.rng.uniform(0, math.pi))
        xy = self._spot(float(np.hypot(half[0], half[1])))
        if xy is None:
            return []
        self.tops.append(_Top(np.append(xy, height), half[:2], yaw))
        shapes: list[Shape] = [Box(np.append(xy, height - half[2]), half, yaw)]
        leg_half = np.array([0.025, 0.025, (height - 2 * half[2]) / 2])
        c, s = math.cos(yaw), math.sin(yaw)
        for sx in (-1, 1):
            for sy in (-1, 1):
                lx, ly = sx * (half[0] - 0.06), sy * (half[1] - 0.06)
                leg_xy = xy + np.array([c * lx - s * ly, s * lx + c * ly])
                shapes.append(Box(np.append(leg_xy, leg_half[2]), leg_half, yaw))
        return shapes

    def _bin(self) -> list[Shape]:
        radius, height = float(self.rng.uniform(0.12, 0.35)), float(self.rng.uniform(0.4, 1.1))
        xy = self._spot(radius)
        return [] if xy is None else [Cylinder(xy, 0.0, height, radius)]

    def _ball(self) -> list[Shape]:
        """A ball on a free furniture top half of the time (when one fits), else on the floor."""
        radius = float(self.rng.uniform(0.1, 0.3))
        headroom = self.room[2] - 0.1 - 2 * radius
        fitting = [i for i, t in enumerate(self.tops) if t.half.min() > radius and t.center[2] < headroom]
        if fitting and self.rng.random() < 0.5:
            top = self.tops.pop(fitting[self.rng.integers(len(fitting))])
            lx, ly = self.rng.uniform(-1, 1, 2) * (top.half - radius)
            c, s = math.cos(top.yaw), math.sin(top.yaw)
            center = top.center + np.array([c * lx - s * ly, s * lx + c * ly, radius])
            return [Sphere(center, radius)]
        xy = self._spot(radius)
        return [] if xy is None else [Sphere(np.append(xy, radius), radius)]


def _rugs(rng: np.random.Generator, room: np.ndarray, camera: Camera) -> list[Decal]:
    """Zero or one rug on the floor in view, kept inside the room."""
    if rng.random() < 0.3:
        return []
    center = camera.position[:2] + rng.uniform(1.2, 3.5) * _direction_in_view(rng, camera)
    half = rng.uniform([0.4, 0.3], [1.1, 0.8])
    lo = np.maximum(center - half, _GAP)
    hi = np.minimum(center + half, room[:2] - _GAP)
    if np.any(hi - lo < 0.3):
        return []
    return [Decal(FLOOR_FACE, lo, hi, SyntheticClass.RUG, mat.rug_material(rng))]


def _wall_hit(room: np.ndarray, camera: Camera, direction: np.ndarray) -> tuple[int, float]:
    """The wall a horizontal ray from the camera meets first, and how far along that wall (its u coordinate)."""
    best = (math.inf, WALL_FACES[0], 0.0)
    for face, (axis, at) in zip(WALL_FACES, ((0, 0.0), (0, room[0]), (1, 0.0), (1, room[1]))):
        if direction[axis] == 0:
            continue
        t = (at - camera.position[axis]) / direction[axis]
        if 0 < t < best[0]:
            best = (t, face, float(camera.position[1 - axis] + t * direction[1 - axis]))
    return best[1], best[2]


def _wall_decals(rng: np.random.Generator, room: np.ndarray, camera: Camera) -> list[Decal]:
    """0-2 framed pictures and maybe a whiteboard on the walls in view, not overlapping each other."""
    kinds = [SyntheticClass.PICTURE] * int(rng.integers(0, 3))
    kinds += [SyntheticClass.WHITEBOARD] * int(rng.random() < 0.5)
    decals: list[Decal] = []
    for kind in kinds:
        for _ in range(_TRIES):
            face, along = _wall_hit(room, camera, _direction_in_view(rng, camera))
            wall_length = room[0] if face in WALL_FACES[2:] else room[1]
            if kind == SyntheticClass.PICTURE:
                size, center_z = rng.uniform([0.3, 0.3], [1.0, 0.8]), rng.uniform(1.3, 1.8)
            else:
                size, center_z = rng.uniform([1.0, 0.7], [2.0, 1.1]), rng.uniform(1.3, 1.6)
            lo = np.array([max(along - size[0] / 2, 0.1), center_z - size[1] / 2])
            hi = np.array([min(along + size[0] / 2, wall_length - 0.1), center_z + size[1] / 2])
            clear = all(d.face != face or np.any(hi < d.lo) or np.any(lo > d.hi) for d in decals)
            if hi[0] - lo[0] >= 0.3 and clear:
                decals.append(_framed(rng, face, lo, hi, kind))
                break
    return decals


def _framed(rng: np.random.Generator, face: int, lo: np.ndarray, hi: np.ndarray, kind: int) -> Decal:
    """A picture in a wooden frame or a whiteboard in an aluminium one (neither frame dark enough to lose depth)."""
    if kind == SyntheticClass.PICTURE:
        material, frame = mat.picture_material(rng), rng.uniform(0.02, 0.06)
        frame_color = mat.hsv(rng.uniform(0.05, 0.1), 0.5, rng.uniform(0.25, 0.5))
    else:
        material, frame, frame_color = mat.whiteboard_material(rng), 0.025, mat.hsv(0, 0, rng.uniform(0.6, 0.75))
    return Decal(face, lo, hi, kind, material, float(frame), frame_color.astype(np.float32))
