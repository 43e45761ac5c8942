"""Procedural indoor RGB-D scenes: numpy-only, deterministic by seed, fast enough to be a fake camera.

Each scene is a room (floor, four walls, ceiling) seen by a pinhole camera 0.9-1.7 m above the floor,
pitched -30°..+5°, with 3-8 pieces of furniture standing on the floor (balls may also rest on free
furniture tops) and zero-relief decals on the floor and walls. Depth is the exact z-depth of the
first surface hit, degraded like an active depth sensor (`sensor.py`); colour is Lambertian shading
of procedural textures with a point light, glossy highlights, auto-exposure and image noise.

Class design: the classes are chosen so that fusing depth and colour beats either cue alone.

======================  ===========  ====================================================================
class                   cue          why
======================  ===========  ====================================================================
floor, wall, ceiling    geometry     orientation and height; their colours overlap (a white ceiling looks
                        (mostly)     like a whiteboard, floor and wall colours are both muted)
cabinet, bin, ball,     geometry     every piece of furniture draws its material from ONE distribution;
table, crate            only         only shape separates them: cabinet = tall box (0.8-1.9 m), crate =
                                     low box (0.24-0.5 m), table = thin top at 0.68-0.78 m on four legs
                                     (free space below), bin = upright cylinder, ball = sphere
rug                     appearance   a flat patch of the floor: saturated two-colour patterns on a muted
                        only         floor, with exactly the floor's depth
picture                 appearance   a flat framed patch of a wall with multicoloured content; the wall's
                        only         depth
whiteboard              appearance   a flat, bright white patch of a wall (walls are never that white);
                        + geometry   told from the equally white ceiling only by its orientation
======================  ===========  ====================================================================

Appearance-only classes are never black or glossy, so the depth sensor cannot tell them from their host
surface by missing measurements either; only furniture can be dark or glossy (both lose depth).

Labels are valid wherever geometry is hit (everywhere: the camera is inside a closed room), including
where the depth sensor lost its measurement; IGNORE_INDEX would only mark pixels that hit nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.sample import RGBDSample
from amf_edge.synthetic.classes import SYNTHETIC_LABELS, SyntheticClass
from amf_edge.synthetic.layout import sample_scene
from amf_edge.synthetic.renderer import render
from amf_edge.uri import parse_uri

__all__ = ["SPLITS", "SYNTHETIC_LABELS", "SyntheticClass", "SyntheticScenes", "parse_synthetic_uri", "render_scene"]

MIN_SIZE, MAX_SIZE = 16, 4096
DEFAULT_N = 100


def _checked_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise AmfEdgeError(f"synthetic scenes: {name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < low or (high is not None and value > high):
        expected = f">= {low}" if high is None else f"between {low} and {high}"
        raise AmfEdgeError(f"synthetic scenes: {name} must be {expected}, got {value}; pass a value in that range")
    return int(value)


def _checked_size(height: object, width: object) -> tuple[int, int]:
    return _checked_int("height", height, MIN_SIZE, MAX_SIZE), _checked_int("width", width, MIN_SIZE, MAX_SIZE)


def render_scene(seed: int, height: int = 240, width: int = 320) -> RGBDSample:
    """Render the scene of `seed` (>= 0) at height×width pixels; the same arguments give identical arrays.

    The sample has uint8 RGB, uint16 depth in millimetres (`depth_unit` 0.001, 0 = no measurement),
    uint8 labels of `SYNTHETIC_LABELS` and the camera's intrinsics.
    """
    seed = _checked_int("seed", seed, 0)
    height, width = _checked_size(height, width)
    rng = np.random.default_rng(seed)
    return render(sample_scene(rng, height, width), rng)


SPLITS = ("train", "val")


class SyntheticScenes:
    """A fixed-length sequence of synthetic scenes; scene i is `render_scene(self.scene_seed(i), ...)`.

    `split` picks the seed stream: "train" scenes are those every earlier version produced for the same
    arguments; "val" scenes come from a second, disjoint stream of the same seed, so a validation set
    never repeats a training scene however large either is.
    """

    def __init__(
        self, seed: int = 0, n: int = DEFAULT_N, height: int = 240, width: int = 320, split: str = "train"
    ) -> None:
        self.seed = _checked_int("seed", seed, 0)
        self.n = _checked_int("n", n, 1)
        self.height, self.width = _checked_size(height, width)
        if split not in SPLITS:
            raise AmfEdgeError(f"synthetic scenes: unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        self.split = split

    @property
    def labels(self) -> LabelSet:
        return SYNTHETIC_LABELS

    def scene_seed(self, i: int) -> int:
        """The `render_scene` seed of scene i (0 <= i < n), mixed from (seed, i) so nearby seeds don't correlate.

        Validation scenes mix (seed, i, 1). SeedSequence hashes a missing entropy word like a 0, so the
        training entropy (seed, i) is (seed, i, 0): for one seed, the two streams never share an input.
        """
        entropy = (self.seed, i) if self.split == "train" else (self.seed, i, 1)
        return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> RGBDSample:
        i = operator.index(index)
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"synthetic scene index {index} out of range for {self.n} scenes")
        return render_scene(self.scene_seed(i), self.height, self.width)

    def __iter__(self) -> Iterator[RGBDSample]:
        return (self[i] for i in range(self.n))

    def __repr__(self) -> str:
        return (
            f"SyntheticScenes(seed={self.seed}, n={self.n}, height={self.height}, width={self.width}, "
            f"split={self.split!r})"
        )


_URI_KEYS = ("seed", "n", "height", "width", "val")


def parse_synthetic_uri(uri: str, split: str = "train", extra: dict | None = None):
    """`synthetic://?seed=S&n=N&height=H&width=W&val=V` (every key optional) as `SyntheticScenes`.

    Split "train" has n scenes; split "val" has V scenes (default max(1, n // 4)) from the disjoint
    validation stream of the same seed. `extra` adds options of the caller's ({key: amf_edge.uri option}, e.g. the
    runtime source's fps); then the result is (scenes, {key: value given}).
    """
    example = "synthetic://?seed=0&n=100&height=240&width=320"
    spec = {**{key: (int, "an integer") for key in _URI_KEYS}, **(extra or {})}
    _, options = parse_uri(uri, "synthetic", spec, example, location="none")
    given = {key: options.pop(key) for key in list(options) if key in (extra or {})}
    val = options.pop("val", None)
    n = _checked_int("n", options.pop("n", DEFAULT_N), 1)
    val = max(1, n // 4) if val is None else _checked_int("val", val, 1)
    scenes = SyntheticScenes(n=n if split == "train" else val, split=split, **options)
    return scenes if extra is None else (scenes, given)
