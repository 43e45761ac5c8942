"""Joint geometric transforms: rgb, depth, label and intrinsics must stay aligned through every op.

The test sample encodes one block grid three ways: label = block id, depth = 1000 + 100·id, rgb = a
distinct colour per id. After any op, depth and label must still agree pixel for pixel (both nearest),
rgb must show the block's colour away from block edges (bicubic blurs only there), and a 3D point at a
block's centre must project, with the new intrinsics, onto that block's centroid in the new label image.
"""

from __future__ import annotations

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.labels import IGNORE_INDEX
from amf_edge.sample import Intrinsics, RGBDSample
from amf_edge.transforms import (
    IMAGENET_MEAN_RGB_UINT8,
    CenterCrop,
    Compose,
    Pad,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    RandomScaleToCover,
    Resize,
    fast_train,
    get_train_transform,
    official_nyudv2_train,
)  # fmt: skip

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

pytest.importorskip("cv2")

H, W, BLOCK = 48, 64, 8
ROWS, COLS = H // BLOCK, W // BLOCK
N_REGIONS = ROWS * COLS
K = Intrinsics(fx=50.0, fy=55.0, cx=31.3, cy=22.7)

# What each label value looks like in depth and rgb; 255 (padding) is depth 0 and the pad colour.
DEPTH_OF = np.zeros(256, np.uint16)
DEPTH_OF[:N_REGIONS] = 1000 + 100 * np.arange(N_REGIONS)
COLOUR_OF = np.zeros((256, 3), np.uint8)
COLOUR_OF[:N_REGIONS] = np.stack([(40 + 37 * np.arange(N_REGIONS)) % 256, (90 * np.arange(N_REGIONS)) % 251,
                                  255 - 5 * np.arange(N_REGIONS)], axis=1)  # fmt: skip
COLOUR_OF[IGNORE_INDEX] = IMAGENET_MEAN_RGB_UINT8


def region_sample(label: bool = True, intrinsics: bool = True) -> RGBDSample:
    ids = (np.arange(H)[:, None] // BLOCK) * COLS + np.arange(W)[None, :] // BLOCK
    ids = ids.astype(np.uint8)
    return RGBDSample(COLOUR_OF[ids], DEPTH_OF[ids], 0.001, ids if label else None, K if intrinsics else None)


def test_the_region_encoding_is_unambiguous() -> None:
    colours = {tuple(c) for c in COLOUR_OF[list(range(N_REGIONS)) + [IGNORE_INDEX]]}
    assert len(colours) == N_REGIONS + 1
    assert len(set(DEPTH_OF[:N_REGIONS])) == N_REGIONS and 0 not in DEPTH_OF[:N_REGIONS]


# --- the invariants, checked after every op ----------------------------------------------------------


def uniform_interior(label: np.ndarray, radius: int) -> np.ndarray:
    """Pixels whose (2r+1)² neighbourhood (inside the image) holds a single label value."""
    h, w = label.shape
    padded = np.pad(label.astype(np.int16), radius, constant_values=-1)
    same = np.ones((h, w), bool)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            window = padded[dy : dy + h, dx : dx + w]
            same &= (window == label) | (window == -1)
    return same


def block_points() -> list[tuple[int, np.ndarray]]:
    """(block id, 3D point at 2 m that projects onto the block's centre with K), for every block."""
    points = []
    for i in range(N_REGIONS):
        u, v = (i % COLS) * BLOCK + (BLOCK - 1) / 2, (i // COLS) * BLOCK + (BLOCK - 1) / 2
        z = 2.0
        points.append((i, np.array([(u - K.cx) / K.fx * z, (v - K.cy) / K.fy * z, z])))
    return points


def project(k: Intrinsics, p: np.ndarray) -> np.ndarray:
    return np.array([k.fx * p[0] / p[2] + k.cx, k.fy * p[1] / p[2] + k.cy])


def check_alignment(out: RGBDSample, mirrored: bool = False, tolerance: float = 0.5 + 1e-6) -> int:
    """Assert every invariant of the module docstring; returns how many block centroids were compared."""
    assert out.rgb.dtype == np.uint8 and out.depth.dtype == np.uint16 and out.label.dtype == np.uint8
    assert out.rgb.shape == (*out.size, 3) and out.label.shape == out.depth.shape
    assert set(np.unique(out.label)) <= set(range(N_REGIONS)) | {IGNORE_INDEX}
    np.testing.assert_array_equal(out.depth, DEPTH_OF[out.label])  # nearest on both, never blended

    # Bicubic reads source pixels up to 2 away; output pixels within ceil(2.5·s) sample (nearest) at least
    # that far out on both sides, so a uniform label window that large means uniform bicubic taps.
    scale = max(out.intrinsics.fx / K.fx, out.intrinsics.fy / K.fy)
    interior = uniform_interior(out.label, int(np.ceil(2.5 * scale)))
    assert interior.any()
    np.testing.assert_array_equal(out.rgb[interior], COLOUR_OF[out.label[interior]])

    compared = 0
    v, u = np.indices(out.size)
    for i, point in block_points():
        mask = out.label == i
        # A block cut by the image border has a shifted centroid; only whole blocks are comparable.
        if mask.sum() < 2 or mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
            continue
        if mirrored:
            point = point * np.array([-1.0, 1.0, 1.0])
        centroid = np.array([u[mask].mean(), v[mask].mean()])
        np.testing.assert_allclose(project(out.intrinsics, point), centroid, atol=tolerance, err_msg=f"block {i}")
        compared += 1
    return compared


OPS = [
    Resize(144, 192), Resize(30, 41), Resize(61, 50),
    RandomScale(0.5, 2.0), RandomScale(0.7, 1.6, min_short_side=60), RandomScaleToCover(40, 40),
    Pad(70, 90), Pad(53, 64), Pad(40, 50), RandomCrop(30, 40), CenterCrop(31, 41),
    RandomHorizontalFlip(p=1.0), RandomHorizontalFlip(p=0.0),
    official_nyudv2_train(), fast_train(32, 48), fast_train(64, 64, scale=(0.5, 0.6)),
]  # fmt: skip


def without_flips(op: object) -> Compose:
    """`op` with every flip disabled; flips draw from the generator whatever p, so the other draws match."""
    ops = op.transforms if isinstance(op, Compose) else [op]
    return Compose([RandomHorizontalFlip(0.0) if isinstance(o, RandomHorizontalFlip) else o for o in ops])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_every_op_keeps_rgb_depth_label_and_intrinsics_aligned(op, seed: int) -> None:
    out = op(region_sample(), np.random.default_rng(seed))
    # Tell from the pixels whether this draw mirrored: compare with the same draws minus the flip.
    plain = without_flips(op)(region_sample(), np.random.default_rng(seed))
    mirrored = not np.array_equal(out.label, plain.label)
    assert check_alignment(out, mirrored) > 0


# --- each op's own contract ----------------------------------------------------------------------------


def test_integer_upscaling_repeats_depth_and_label_exactly_and_moves_the_principal_point_by_pixel_centres() -> None:
    out = Resize(3 * H, 3 * W)(region_sample(), np.random.default_rng(0))
    src = region_sample()
    np.testing.assert_array_equal(out.label, src.label.repeat(3, 0).repeat(3, 1))
    np.testing.assert_array_equal(out.depth, src.depth.repeat(3, 0).repeat(3, 1))
    # Source pixel u covers output 3u..3u+2, centre 3u+1: cx' = 3·(cx + 0.5) − 0.5, not 3·cx.
    assert out.intrinsics == Intrinsics(3 * K.fx, 3 * K.fy, 3 * K.cx + 1, 3 * K.cy + 1)
    assert check_alignment(out, tolerance=1e-9) == (ROWS - 2) * (COLS - 2)  # blocks off the border


def test_rgb_is_resized_bicubic_like_the_official_code() -> None:
    cv2 = pytest.importorskip("cv2")
    src = region_sample()
    out = Resize(37, 91)(src, np.random.default_rng(0))
    np.testing.assert_array_equal(out.rgb, cv2.resize(src.rgb, (91, 37), interpolation=cv2.INTER_CUBIC))
    assert len(np.unique(out.rgb.reshape(-1, 3), axis=0)) > N_REGIONS  # blends at edges, unlike depth


def test_random_scale_never_invents_depth_values() -> None:
    src = region_sample()
    for seed in range(5):
        out = RandomScale(0.3, 3.0)(src, np.random.default_rng(seed))
        assert set(np.unique(out.depth)) <= set(np.unique(src.depth))


def test_random_scale_follows_the_official_min_short_side_rule() -> None:
    op = RandomScale(0.5, 2.0, min_short_side=60)  # 60 / 48 = 1.25: draws below it are raised to it
    raised = kept = 0
    for seed in range(40):
        drawn = np.random.default_rng(seed).uniform(0.5, 2.0)  # the op's one draw, replayed
        out = op(region_sample(), np.random.default_rng(seed))
        expected = max(drawn, 60 / H)
        assert out.size == (round(H * expected), round(W * expected))
        assert min(out.size) >= 60
        raised, kept = raised + (drawn < 60 / H), kept + (drawn >= 60 / H)
    assert raised and kept  # both branches ran
    # The official numbers: a 480-px short side is never scaled below 350 / 480.
    official = RandomScale(0.5, 2.0, min_short_side=350)
    scales = [official.draw_scale((480, 640), np.random.default_rng(s)) for s in range(200)]
    assert min(scales) == pytest.approx(350 / 480) and max(scales) <= 2.0 and len(set(scales)) > 100


def test_scale_to_cover_makes_the_crop_fit_at_scale_one() -> None:
    op = RandomScaleToCover(40, 100, 1.0, 1.0)
    out = op(region_sample(), np.random.default_rng(0))
    assert out.size == (round(H * 100 / W), 100)  # the width decides: 100 / 64 > 40 / 48


@pytest.mark.parametrize("target, pads", [((53, 64), (3, 2, 0, 0)), ((48, 71), (0, 0, 4, 3)), ((60, 80), (6, 6, 8, 8))])
def test_pad_fills_and_places_the_image_like_the_official_code(target, pads) -> None:
    top, bottom, left, right = pads  # (d + 1) // 2 before, the rest after
    out = Pad(*target)(region_sample(), np.random.default_rng(0))
    assert out.size == target
    src = region_sample()
    np.testing.assert_array_equal(out.label[top : top + H, left : left + W], src.label)
    np.testing.assert_array_equal(out.rgb[top : top + H, left : left + W], src.rgb)
    border = np.ones(target, bool)
    border[top : top + H, left : left + W] = False
    assert border.sum() == target[0] * target[1] - H * W
    assert (out.depth[border] == 0).all() and (out.label[border] == IGNORE_INDEX).all()
    assert (out.rgb[border] == (124, 116, 104)).all()
    assert out.intrinsics == Intrinsics(K.fx, K.fy, K.cx + left, K.cy + top)


def test_pad_leaves_long_enough_sides_alone_and_takes_custom_fills() -> None:
    src = region_sample()
    assert Pad(H - 10, W)(src, np.random.default_rng(0)) is src
    out = Pad(H, W + 2, rgb_fill=(1, 2, 3), depth_fill=7, label_fill=9)(src, np.random.default_rng(0))
    assert out.size == (H, W + 2)
    assert (out.rgb[:, 0] == (1, 2, 3)).all() and (out.depth[:, -1] == 7).all() and (out.label[:, 0] == 9).all()


def test_random_crop_takes_a_window_of_the_source_and_shifts_the_principal_point() -> None:
    src = region_sample()
    offsets = set()
    for seed in range(20):
        out = RandomCrop(20, 30)(src, np.random.default_rng(seed))
        assert out.size == (20, 30)
        left, top = K.cx - out.intrinsics.cx, K.cy - out.intrinsics.cy
        assert left == int(left) and top == int(top)
        top, left = int(top), int(left)
        np.testing.assert_array_equal(out.rgb, src.rgb[top : top + 20, left : left + 30])
        np.testing.assert_array_equal(out.depth, src.depth[top : top + 20, left : left + 30])
        offsets.add((top, left))
    assert len(offsets) > 10 and all(0 <= top <= H - 20 and 0 <= left <= W - 30 for top, left in offsets)


def test_center_crop_offsets() -> None:
    out = CenterCrop(31, 41)(region_sample(), np.random.default_rng(0))
    top, left = (H - 31) // 2, (W - 41) // 2
    np.testing.assert_array_equal(out.label, region_sample().label[top : top + 31, left : left + 41])
    assert out.intrinsics == Intrinsics(K.fx, K.fy, K.cx - left, K.cy - top)


@pytest.mark.parametrize("op", [RandomCrop(49, 10), RandomCrop(10, 65), CenterCrop(60, 60)], ids=repr)
def test_cropping_more_than_the_sample_is_a_user_error(op) -> None:
    with pytest.raises(AmfEdgeError, match="smaller than the .* crop; put a Pad"):
        op(region_sample(), np.random.default_rng(0))


def test_horizontal_flip_mirrors_everything_and_the_principal_point() -> None:
    src = region_sample()
    out = RandomHorizontalFlip(p=1.0)(src, np.random.default_rng(0))
    for name in ("rgb", "depth", "label"):
        np.testing.assert_array_equal(getattr(out, name), getattr(src, name)[:, ::-1])
        assert getattr(out, name).strides[1] > 0  # a copy that torch.from_numpy accepts
    assert out.intrinsics == Intrinsics(K.fx, K.fy, (W - 1) - K.cx, K.cy)
    assert RandomHorizontalFlip(p=0.0)(src, np.random.default_rng(0)) is src
    flips = [RandomHorizontalFlip()(src, np.random.default_rng(s)) is not src for s in range(200)]
    assert 70 < sum(flips) < 130


# --- presets, determinism, optional parts ------------------------------------------------------------


def test_presets_produce_their_sizes() -> None:
    rng = np.random.default_rng(0)
    assert official_nyudv2_train()(region_sample(), rng).size == (500, 500)
    assert fast_train(32, 48)(region_sample(), rng).size == (32, 48)
    assert [type(t).__name__ for t in official_nyudv2_train().transforms] == [
        "RandomScale", "Pad", "RandomHorizontalFlip", "RandomCrop"]  # fmt: skip
    scale = official_nyudv2_train().transforms[0]
    assert (scale.low, scale.high, scale.min_short_side) == (0.5, 2.0, 350)


@pytest.mark.parametrize("make", [official_nyudv2_train, lambda: fast_train(32, 48)], ids=["official", "fast"])
def test_the_same_seed_replays_the_same_augmentation(make) -> None:
    t = make()
    a, b = (t(region_sample(), np.random.default_rng(123)) for _ in range(2))
    for name in ("rgb", "depth", "label"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.intrinsics == b.intrinsics
    others = [t(region_sample(), np.random.default_rng(s)) for s in range(5)]
    assert any(not np.array_equal(a.label, o.label) for o in others)


def test_samples_without_label_or_intrinsics_pass_through() -> None:
    out = official_nyudv2_train()(region_sample(label=False, intrinsics=False), np.random.default_rng(0))
    assert out.label is None and out.intrinsics is None and out.size == (500, 500)
    full = official_nyudv2_train()(region_sample(), np.random.default_rng(0))
    np.testing.assert_array_equal(out.depth, full.depth)  # same draws whatever the sample carries


def test_get_train_transform_by_name() -> None:
    assert repr(get_train_transform("official-nyudv2", 500, 500)) == repr(official_nyudv2_train())
    assert repr(get_train_transform("fast", 64, 80)) == repr(fast_train(64, 80))
    with pytest.raises(AmfEdgeError, match="unknown train transform 'fancy'; valid names: official-nyudv2, fast"):
        get_train_transform("fancy", 64, 80)
    with pytest.raises(AmfEdgeError, match="crops 500×500, but 240×320 was asked for"):
        get_train_transform("official-nyudv2", 240, 320)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: RandomScale(2.0, 1.0), "0 < low <= high"),
        (lambda: RandomScale(0.0, 1.0), "0 < low <= high"),
        (lambda: RandomScale(0.5, 1.0, min_short_side=0), "min_short_side must be a positive integer"),
        (lambda: Resize(0, 10), "height must be a positive integer"),
        (lambda: RandomCrop(10, 2.5), "width must be a positive integer"),
        (lambda: Pad(10, 10, rgb_fill=(1, 2)), "rgb_fill must be 3 values"),
        (lambda: Pad(10, 10, depth_fill=-1), "depth_fill must be 0..65535"),
        (lambda: RandomHorizontalFlip(1.5), r"probability in \[0, 1\]"),
    ],
)
def test_bad_arguments_are_user_errors(make, message: str) -> None:
    with pytest.raises(AmfEdgeError, match=message):
        make()
