"""Tests of the procedural RGB-D scene generator: the sample contract, geometry, sensor effects, class design."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.labels import IGNORE_INDEX, get_labels
from amf_edge.sample import RGBDSample
from amf_edge.synthetic import SYNTHETIC_LABELS, SyntheticScenes, parse_synthetic_uri, render_scene
from amf_edge.synthetic import SyntheticClass as C

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

FURNITURE = (C.CABINET, C.BIN, C.BALL, C.TABLE, C.CRATE)
DECALS = {C.RUG: (C.FLOOR,), C.PICTURE: (C.WALL,), C.WHITEBOARD: (C.WALL,)}  # appearance-only class: host


@pytest.fixture(scope="module")
def small() -> list[RGBDSample]:
    return list(SyntheticScenes(seed=11, n=40, height=60, width=80))


@pytest.fixture(scope="module")
def many() -> list[RGBDSample]:
    return list(SyntheticScenes(seed=13, n=100, height=48, width=64))


@pytest.fixture(scope="module")
def medium() -> list[RGBDSample]:
    return list(SyntheticScenes(seed=12, n=16, height=120, width=160))


# --- helpers ---------------------------------------------------------------------------------------


def back_project(sample: RGBDSample) -> np.ndarray:
    """(H, W, 3) camera-frame points in metres (x right, y down, z forward); z = 0 where depth is missing."""
    return back_project_rays(sample) * sample.depth_m().astype(np.float64)[..., None]


def back_project_rays(sample: RGBDSample) -> np.ndarray:
    """(H, W, 3) camera-frame rays through the pixel centres, with unit z."""
    k = sample.intrinsics
    v, u = np.indices(sample.size)
    return np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones(sample.size)], axis=-1)


def fit_plane(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares plane through (n, 3) points: unit normal and centroid."""
    centroid = points.mean(axis=0)
    return np.linalg.svd(points - centroid, full_matrices=False)[2][2], centroid


def floor_plane(sample: RGBDSample, min_pixels: int = 50) -> tuple[np.ndarray, np.ndarray] | None:
    """Up-pointing floor normal and a floor point in camera coordinates, fitted to valid floor pixels."""
    floor = (sample.label == C.FLOOR) & (sample.depth > 0)
    if floor.sum() < min_pixels:
        return None
    normal, point = fit_plane(back_project(sample)[floor])
    return (-normal if normal[1] > 0 else normal), point  # camera y points down, so "up" has y < 0


def height_above_floor(sample: RGBDSample, floor: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    up, point = floor
    return (back_project(sample) - point) @ up


def neighbour_pairs() -> list[tuple[tuple[slice, slice], tuple[slice, slice]]]:
    """Index pairs (a, b) such that image[a] and image[b] are 4-neighbours, in both orders."""
    down = ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))
    right = ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))
    return [down, right, down[::-1], right[::-1]]


# --- contract, determinism, API ---------------------------------------------------------------------


def test_sample_contract() -> None:
    s = render_scene(3, 60, 80)
    assert s.rgb.shape == (60, 80, 3) and s.rgb.dtype == np.uint8
    assert s.depth.shape == (60, 80) and s.depth.dtype == np.uint16
    assert s.label.shape == (60, 80) and s.label.dtype == np.uint8
    assert s.depth_unit == 0.001
    k = s.intrinsics
    hfov = np.degrees(2 * np.arctan(80 / 2 / k.fx))
    assert 57 < hfov < 73 and k.fx == k.fy
    assert abs(k.cx - 39.5) < 3 and abs(k.cy - 29.5) < 3


@pytest.mark.parametrize("size", [(16, 16), (17, 33), (100, 20), (33, 200)])
def test_odd_sizes_render(size: tuple[int, int]) -> None:
    s = render_scene(5, *size)
    assert s.size == size
    assert (s.label != IGNORE_INDEX).all()


def test_same_seed_gives_identical_arrays_and_different_seeds_differ() -> None:
    a, b, c = render_scene(7, 60, 80), render_scene(7, 60, 80), render_scene(8, 60, 80)
    for name in ("rgb", "depth", "label"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert not np.array_equal(getattr(a, name), getattr(c, name)), name
    assert a.intrinsics == b.intrinsics != c.intrinsics


def test_scenes_sequence() -> None:
    scenes = SyntheticScenes(seed=4, n=3, height=32, width=48)
    assert len(scenes) == 3 and scenes.labels is SYNTHETIC_LABELS
    assert np.array_equal(scenes[-1].rgb, scenes[2].rgb)
    assert np.array_equal(scenes[1].depth, render_scene(scenes.scene_seed(1), 32, 48).depth)
    assert not np.array_equal(scenes[0].rgb, scenes[1].rgb)
    assert not np.array_equal(scenes[0].rgb, SyntheticScenes(seed=5, n=3, height=32, width=48)[0].rgb)
    with pytest.raises(IndexError):
        scenes[3]
    with pytest.raises(IndexError):
        scenes[-4]
    assert [s.size for s in scenes] == [(32, 48)] * 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "n must be >= 1"),
        ({"height": 8}, "height must be between 16 and 4096"),
        ({"width": 5000}, "width must be between 16 and 4096"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"n": True}, "n must be an integer"),
    ],
)
def test_bad_arguments_raise_user_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(AmfEdgeError, match=message):
        SyntheticScenes(**kwargs)


def test_render_scene_validates_too() -> None:
    with pytest.raises(AmfEdgeError, match="height"):
        render_scene(0, height=4000000)


def test_parse_synthetic_uri() -> None:
    scenes = parse_synthetic_uri("synthetic://?seed=3&n=7&height=48&width=64")
    assert (scenes.seed, len(scenes), scenes.height, scenes.width) == (3, 7, 48, 64)
    assert repr(parse_synthetic_uri("synthetic://")) == repr(SyntheticScenes())


@pytest.mark.parametrize(
    "uri, message",
    [
        ("synthetic://?seed=1&colour=red", "unknown option 'colour'; valid options: seed, n, height, width"),
        ("synthetic://?n=ten", "option 'n' must be an integer, got 'ten'"),
        ("synthetic://?n=", "option 'n' must be an integer"),
        ("synthetic://?n=0", "n must be >= 1"),
        ("synthetic://?seed=1&seed=2", "given twice"),
        ("nyu://?seed=1", "expected a synthetic:// URI"),
        ("synthetic://host/path?seed=1", "synthetic:// takes no path"),
    ],
)
def test_parse_synthetic_uri_errors(uri: str, message: str) -> None:
    with pytest.raises(AmfEdgeError, match=message):
        parse_synthetic_uri(uri)


def test_label_set_is_registered_with_distinct_colours() -> None:
    assert get_labels("synthetic") is SYNTHETIC_LABELS
    assert SYNTHETIC_LABELS.names == tuple(c.name.lower() for c in C)
    assert len(set(SYNTHETIC_LABELS.palette)) == SYNTHETIC_LABELS.num_classes


def test_rendering_needs_numpy_only() -> None:
    code = (
        "import sys, amf_edge.synthetic as s\n"
        "s.render_scene(0, 16, 16)\n"
        "print(sorted({'torch', 'cv2', 'scipy'} & set(sys.modules)))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


# --- depth sensor ----------------------------------------------------------------------------------


def test_depth_is_metric_with_some_missing_pixels(small: list[RGBDSample]) -> None:
    valid = np.concatenate([s.depth_m()[s.depth > 0] for s in small])
    assert valid.min() > 0.35 and valid.max() < 6.2
    missing = np.array([(s.depth == 0).mean() for s in small])
    assert (missing > 0).mean() > 0.9, "most scenes should lose some pixels (edges, dark or glossy surfaces)"
    assert missing.max() < 0.7 and 0.03 < missing.mean() < 0.4


def test_depth_is_lost_at_discontinuities(medium: list[RGBDSample]) -> None:
    """Furniture pixels next to the wall behind them lose depth far more often than other furniture pixels."""
    edge, other = [], []
    for s in medium:
        furniture = np.isin(s.label, FURNITURE)
        next_to_wall = np.zeros_like(furniture)
        next_to_wall[:, :-1] |= s.label[:, 1:] == C.WALL
        next_to_wall[:, 1:] |= s.label[:, :-1] == C.WALL
        edge.append(s.depth[furniture & next_to_wall] == 0)
        other.append(s.depth[furniture & ~next_to_wall] == 0)
    edge_loss, other_loss = np.concatenate(edge).mean(), np.concatenate(other).mean()
    assert edge_loss > 0.7 and edge_loss > other_loss + 0.3, (edge_loss, other_loss)


def test_dark_surfaces_lose_depth(small: list[RGBDSample]) -> None:
    dark = np.concatenate([(s.depth == 0)[s.rgb.max(axis=-1) < 30] for s in small])
    bright = np.concatenate([(s.depth == 0)[s.rgb.max(axis=-1) > 100] for s in small])
    assert dark.size > 500 and dark.mean() > 0.5 and bright.mean() < 0.25


def test_labels_are_valid_everywhere_including_missing_depth(small: list[RGBDSample]) -> None:
    for s in small:
        assert s.label.max() < SYNTHETIC_LABELS.num_classes
    missing_labels = np.concatenate([s.label[s.depth == 0] for s in small])
    assert len(np.unique(missing_labels)) >= 5


# --- geometry ---------------------------------------------------------------------------------------


def test_every_class_appears(small: list[RGBDSample]) -> None:
    counts = np.bincount(np.concatenate([s.label.ravel() for s in small[:30]]), minlength=256)
    absent = [n for n, c in zip(SYNTHETIC_LABELS.names, counts) if c == 0]
    assert not absent, f"classes never seen in 30 scenes: {absent}"


def test_floor_is_one_plane_below_the_camera(medium: list[RGBDSample]) -> None:
    near, far = [], []  # depth errors along the optical axis, against the fitted plane
    fitted = 0
    for s in medium:
        plane = floor_plane(s, min_pixels=200)
        if plane is None:
            continue
        fitted += 1
        up, point = plane
        floor = (s.label == C.FLOOR) & (s.depth > 0)
        residual = np.abs((back_project(s)[floor] - point) @ up)
        assert np.median(residual) < 0.02
        camera_height = -point @ up
        assert 0.85 < camera_height < 1.75
        # Camera pitch is -30°..+5°, so "up" is mostly along -y in the camera frame.
        assert up[1] < -0.8
        z = s.depth_m()[floor]
        z_plane = (point @ up) / (back_project_rays(s)[floor] @ up)
        near.append(np.abs(z - z_plane)[z < 2])
        far.append(np.abs(z - z_plane)[z > 3])
        # A plane has 1/z linear in (u, v); with "up" roughly -y, 1/z grows towards the bottom rows.
        v, u = np.nonzero(floor)
        coef, *_ = np.linalg.lstsq(np.stack([u, v, np.ones_like(u)], 1).astype(float), 1 / z, rcond=None)
        assert coef[1] > 0
        # Floor pixels (measured or not) look down, below the horizon; ceiling pixels look up.
        rays = back_project_rays(s) @ up
        assert (rays[s.label == C.FLOOR] < 0).mean() > 0.99
        assert (rays[s.label == C.CEILING] > 0).all()
    assert fitted >= 10
    # Noise grows with distance (sigma ∝ z²: about 6 times more at 3.5 m than at 1.5 m).
    assert np.median(np.concatenate(far)) > 3 * np.median(np.concatenate(near))


def _local_normals(points: np.ndarray, mask: np.ndarray, half: int = 3, step: int = 4) -> np.ndarray:
    """Normals of planes fitted to (2·half+1)² windows lying entirely inside `mask`, on a grid of `step`."""
    h, w = mask.shape
    normals = []
    for r in range(half, h - half, step):
        for c in range(half, w - half, step):
            if mask[r - half : r + half + 1, c - half : c + half + 1].all():
                normals.append(fit_plane(points[r - half : r + half + 1, c - half : c + half + 1].reshape(-1, 3))[0])
    return np.array(normals).reshape(-1, 3)


def test_walls_are_vertical_and_ceiling_is_level(medium: list[RGBDSample]) -> None:
    ceilings, wall_normals = 0, []
    for s in medium:
        plane = floor_plane(s, min_pixels=200)
        if plane is None:
            continue
        up = plane[0]
        points, valid = back_project(s), s.depth > 0
        height = height_above_floor(s, plane)
        wall = valid & (s.label == C.WALL)
        assert np.percentile(height[wall], 1) > -0.05 and np.percentile(height[wall], 99) < 3.25
        wall_normals.append(np.abs(_local_normals(points, wall) @ up))
        ceiling = valid & (s.label == C.CEILING)
        if ceiling.sum() >= 50:
            ceilings += 1
            normal, point = fit_plane(points[ceiling])
            assert abs(normal @ up) > 0.99
            assert 2.35 < (point - plane[1]) @ up < 3.25
    assert ceilings >= 1
    # |cos| between wall and floor normals; local fits are noisy (about 0.04) and a few windows span a corner.
    cosines = np.concatenate(wall_normals)
    assert len(cosines) > 100 and np.median(cosines) < 0.08


def test_furniture_stands_on_the_floor(medium: list[RGBDSample]) -> None:
    """Where floor shows right below a piece of furniture, the two often touch: depth is valid, continuous and
    at floor level there. (Not always: slanted silhouettes have floor behind them below, dark furniture loses
    its depth.) Pieces floating even 0.1 m above the floor never touch."""
    touching, contact_heights = [], []
    for s in medium:
        plane = floor_plane(s, min_pixels=200)
        if plane is None:
            continue
        z, height = s.depth_m(), height_above_floor(s, plane)
        # Not tables, whose tops have floor below them, nor balls, which may rest on other furniture.
        above_floor = np.isin(s.label[:-1], (C.CABINET, C.BIN, C.CRATE)) & np.isin(s.label[1:], (C.FLOOR, C.RUG))
        upper, lower = z[:-1][above_floor], z[1:][above_floor]
        contact = (upper > 0) & (lower > 0) & (np.abs(upper - lower) < 0.03 * upper)
        touching.append(contact)
        contact_heights.append(height[:-1][above_floor][contact])
    touching = np.concatenate(touching)
    assert touching.size > 100 and touching.mean() > 0.25
    assert np.median(np.concatenate(contact_heights)) < 0.05


def test_tables_and_crates_differ_by_height(medium: list[RGBDSample], small: list[RGBDSample]) -> None:
    tops = {C.TABLE: [], C.CRATE: []}
    for s in medium + small:
        plane = floor_plane(s)
        if plane is None:
            continue
        height = height_above_floor(s, plane)
        for cls, values in tops.items():
            mask = (s.label == cls) & (s.depth > 0)
            if mask.sum() >= 10:
                values.append(np.percentile(height[mask], 95))
    assert len(tops[C.TABLE]) >= 3 and len(tops[C.CRATE]) >= 3
    assert 0.6 < np.median(tops[C.TABLE]) < 0.85
    assert 0.15 < np.median(tops[C.CRATE]) < 0.55


# --- class design: which cue separates which classes -----------------------------------------------


def test_appearance_only_classes_have_no_depth_edge(medium: list[RGBDSample]) -> None:
    """Along a rug's / picture's / whiteboard's border depth stays valid and continuous with the host;
    along furniture's border against the wall behind it, depth jumps or is lost."""

    def continuous_share(classes: tuple[int, ...], hosts: tuple[int, ...]) -> float:
        shares = []
        for s in medium:
            z = s.depth_m()
            for a, b in neighbour_pairs():
                pair = np.isin(s.label[a], classes) & np.isin(s.label[b], hosts)
                za, zb = z[a][pair], z[b][pair]
                shares.append((za > 0) & (zb > 0) & (np.abs(za - zb) < 0.03 * np.maximum(zb, 1e-6)))
        joined = np.concatenate(shares)
        assert joined.size > 50
        return float(joined.mean())

    for decal, hosts in DECALS.items():
        assert continuous_share((decal,), hosts) > 0.75, decal.name
    assert continuous_share(FURNITURE, (C.WALL,)) < 0.4


def test_furniture_classes_share_colour_statistics(many: list[RGBDSample]) -> None:
    """Mean per-scene saturation and brightness: alike across furniture, unlike between decal and host.
    (Tables come out a little brighter: their tops face the ceiling light. That is geometry, not material.)"""

    def per_scene_stats(cls: int) -> np.ndarray:
        stats = []
        for s in many:
            rgb = s.rgb[s.label == cls].astype(np.float64) / 255
            if len(rgb) >= 10:
                top, bottom = rgb.max(axis=1), rgb.min(axis=1)
                stats.append([np.mean((top - bottom) / (top + 1e-3)), np.mean(top)])
        assert len(stats) >= 20, f"too few scenes with {C(cls).name}"
        return np.mean(stats, axis=0)

    furniture = np.array([per_scene_stats(c) for c in FURNITURE])
    assert np.ptp(furniture, axis=0).max() < 0.15
    saturation, brightness = 0, 1
    for decal, host, stat, margin in (
        (C.RUG, C.FLOOR, saturation, 0.3),
        (C.PICTURE, C.WALL, saturation, 0.15),
        (C.WHITEBOARD, C.WALL, brightness, 0.1),
    ):
        assert per_scene_stats(decal)[stat] - per_scene_stats(host)[stat] > margin, decal.name


def _colour_features(s: RGBDSample) -> np.ndarray:
    """Per pixel: saturation, brightness and local contrast (3×3 std), none of which knows the hue."""
    rgb = s.rgb.astype(np.float64) / 255
    top, bottom = rgb.max(axis=-1), rgb.min(axis=-1)
    padded = np.pad(rgb, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = s.size
    window = np.stack([padded[i : i + h, j : j + w] for i in range(3) for j in range(3)])
    return np.stack([(top - bottom) / (top + 1e-3), top, window.std(axis=0).mean(axis=-1)], axis=-1)


def _geometry_features(s: RGBDSample, plane: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: height above the floor and |cos| between the depth normal and "up"; and where defined."""
    p = back_project(s)
    normals = np.cross(p[1:-1, 2:] - p[1:-1, :-2], p[2:, 1:-1] - p[:-2, 1:-1])
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True) + 1e-12
    upness = np.zeros(s.size)
    upness[1:-1, 1:-1] = np.abs(normals @ plane[0])
    valid = s.depth > 0
    defined = np.zeros(s.size, dtype=bool)
    defined[1:-1, 1:-1] = valid[1:-1, 1:-1] & valid[2:, 1:-1] & valid[:-2, 1:-1] & valid[1:-1, 2:] & valid[1:-1, :-2]
    return np.stack([height_above_floor(s, plane), upness], axis=-1), defined


def _cue_dataset(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    colour, geometry, labels = [], [], []
    for s in SyntheticScenes(seed=seed, n=30, height=60, width=80):
        plane = floor_plane(s)
        if plane is None:
            continue
        geo, defined = _geometry_features(s, plane)
        colour.append(_colour_features(s)[defined])
        geometry.append(geo[defined])
        labels.append(s.label[defined])
    return np.concatenate(colour), np.concatenate(geometry), np.concatenate(labels)


def _balanced_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, among: tuple[int, ...] = tuple(C)
) -> float:
    """Mean per-class recall of a nearest-class-mean classifier (distances scaled by each class's
    per-feature spread, i.e. a diagonal Gaussian), trained and tested on the pixels of classes `among`."""
    train, test = np.isin(train_y, among), np.isin(test_y, among)
    train_x, train_y, test_x, test_y = train_x[train], train_y[train], test_x[test], test_y[test]
    classes = np.unique(train_y)
    means = np.stack([train_x[train_y == c].mean(axis=0) for c in classes])
    var = np.stack([train_x[train_y == c].var(axis=0) for c in classes]) + 1e-4
    score = (((test_x[:, None] - means) ** 2) / var).sum(-1) + np.log(var).sum(-1)
    predicted = classes[score.argmin(axis=1)]
    return float(np.mean([np.mean(predicted[test_y == c] == c) for c in np.unique(test_y)]))


def test_fusing_depth_and_colour_beats_either_cue() -> None:
    train_colour, train_geometry, train_y = _cue_dataset(seed=21)
    test_colour, test_geometry, test_y = _cue_dataset(seed=22)

    def scores(among: tuple[int, ...]) -> tuple[float, float, float]:
        train_both, test_both = np.hstack([train_colour, train_geometry]), np.hstack([test_colour, test_geometry])
        return tuple(
            _balanced_accuracy(train, train_y, test, test_y, among)
            for train, test in ((train_colour, test_colour), (train_geometry, test_geometry), (train_both, test_both))
        )

    colour, geometry, both = scores(tuple(C))
    assert both > max(colour, geometry) + 0.05, (colour, geometry, both)
    # Furniture: colour is at chance (1/5), shape is what tells the classes apart.
    colour, geometry, _ = scores(FURNITURE)
    assert colour < 0.35 and geometry > colour + 0.2, (colour, geometry)
    # Decals and their hosts: geometry can only tell floor-like from wall-like (chance is about 0.5).
    colour, geometry, _ = scores((C.FLOOR, C.RUG, C.WALL, C.PICTURE, C.WHITEBOARD))
    assert geometry < 0.65 and colour > geometry + 0.05, (colour, geometry)
