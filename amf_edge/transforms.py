"""Joint geometric augmentation of whole `RGBDSample`s (numpy + OpenCV, imported lazily).

Every transform is called as `t(sample, rng) -> sample`, taking its randomness only from the
`np.random.Generator` it is given, so a DataLoader worker that seeds its generator per sample replays
the same augmentation. Transforms move pixels only; normalisation is `amf_edge.preprocess`'s job.

Resampling follows the official AsymFusion recipe: RGB bicubic, depth and label nearest-neighbour. Depth
stays uint16 raw counts and is never interpolated (a blend of a wall and the object in front of it is a
depth where nothing is). We resize depth and labels with OpenCV's INTER_NEAREST_EXACT, which samples at
pixel centres like the bicubic RGB; the official INTER_NEAREST samples top-left corners and shifts them
against RGB by up to half an output pixel.

Intrinsics follow every op. They are in pixel-index coordinates (pixel u's centre is at u), so scaling by
s maps a centre u to (u + 0.5)·s − 0.5: fx' = s·fx, cx' = s·(cx + 0.5) − 0.5. Crops and pads shift cx, cy.
A horizontal flip gives cx' = (W − 1) − cx: the intrinsics of the mirrored camera, in which a scene point
(X, Y, Z) of the original view appears where (−X, Y, Z) projects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.labels import IGNORE_INDEX
from amf_edge.lazy import require_module
from amf_edge.sample import Intrinsics, RGBDSample

Transform = Callable[[RGBDSample, np.random.Generator], RGBDSample]

IMAGENET_MEAN_RGB_UINT8 = (124, 116, 104)
"""The official pad colour: the ImageNet mean (123.675, 116.28, 103.53) rounded, so padded RGB normalises to ~0."""

OFFICIAL_CROP = 500


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise AmfEdgeError(f"{name} must be a positive integer number of pixels, got {value!r}")
    return int(value)


def _with(sample: RGBDSample, fn: Callable[[np.ndarray], np.ndarray], intrinsics: Intrinsics | None) -> RGBDSample:
    """`sample` with `fn` applied to rgb, depth and label alike (label may be None)."""
    label = None if sample.label is None else fn(sample.label)
    return RGBDSample(fn(sample.rgb), fn(sample.depth), sample.depth_unit, label, intrinsics)


def resize_sample(sample: RGBDSample, height: int, width: int) -> RGBDSample:
    """`sample` resized to height×width: RGB bicubic, depth and label nearest (values never blended)."""
    h, w = sample.size
    if (h, w) == (height, width):
        return sample
    cv2 = require_module("cv2", "resizing images for augmentation")
    sx, sy = width / w, height / h
    k = sample.intrinsics
    if k is not None:
        k = Intrinsics(k.fx * sx, k.fy * sy, (k.cx + 0.5) * sx - 0.5, (k.cy + 0.5) * sy - 0.5)

    def nearest(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)

    rgb = cv2.resize(sample.rgb, (width, height), interpolation=cv2.INTER_CUBIC)
    label = None if sample.label is None else nearest(sample.label)
    return RGBDSample(rgb, nearest(sample.depth), sample.depth_unit, label, k)


def scale_sample(sample: RGBDSample, scale: float) -> RGBDSample:
    """`sample` resized by `scale` on both axes, each side rounded to whole pixels (at least 1)."""
    h, w = sample.size
    return resize_sample(sample, max(1, round(h * scale)), max(1, round(w * scale)))


def crop_sample(sample: RGBDSample, top: int, left: int, height: int, width: int) -> RGBDSample:
    """The height×width window of `sample` whose top-left pixel is (top, left); it must lie inside."""
    k = sample.intrinsics
    k = None if k is None else Intrinsics(k.fx, k.fy, k.cx - left, k.cy - top)
    return _with(sample, lambda a: a[top : top + height, left : left + width], k)


def _check_fits(sample: RGBDSample, height: int, width: int, op: str) -> None:
    h, w = sample.size
    if h < height or w < width:
        raise AmfEdgeError(f"{op}: the sample is {h}×{w}, smaller than the {height}×{width} crop; put a Pad "
                           f"({height}, {width}) before it or crop less")


class Compose:
    """Apply transforms in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: RGBDSample, rng: np.random.Generator) -> RGBDSample:
        for t in self.transforms:
            sample = t(sample, rng)
        return sample

    def __repr__(self) -> str:
        return f"Compose([{', '.join(repr(t) for t in self.transforms)}])"


class RandomScale:
    """Resize by s ~ U(low, high); with `min_short_side`, s grows until the short side reaches it.

    The official rule (`ResizeAndScale(350, 0.5, 2.0)`): if short_side·s < min_short_side then
    s = min_short_side / short_side, so a 480-px short side is never scaled below 350 px.
    """

    def __init__(self, low: float, high: float, min_short_side: int | None = None) -> None:
        if not 0 < low <= high:
            raise AmfEdgeError(f"RandomScale: expected 0 < low <= high, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)
        self.min_short_side = None if min_short_side is None else _positive_int("min_short_side", min_short_side)

    def draw_scale(self, size: tuple[int, int], rng: np.random.Generator) -> float:
        scale = rng.uniform(self.low, self.high)
        short = min(size)
        if self.min_short_side is not None and short * scale < self.min_short_side:
            scale = self.min_short_side / short
        return float(scale)

    def __call__(self, sample: RGBDSample, rng: np.random.Generator) -> RGBDSample:
        return scale_sample(sample, self.draw_scale(sample.size, rng))

    def __repr__(self) -> str:
        return f"RandomScale({self.low}, {self.high}, min_short_side={self.min_short_side})"


class RandomScaleToCover(RandomScale):
    """Resize by c·s, s ~ U(low, high), where c is the smallest scale at which the sample covers height×width.

    At s = 1 a following height×width crop just fits; s < 1 leaves a border for Pad, s > 1 zooms in.
    """

    def __init__(self, height: int, width: int, low: float = 0.75, high: float = 1.25) -> None:
        super().__init__(low, high)
        self.height, self.width = _positive_int("height", height), _positive_int("width", width)

    def draw_scale(self, size: tuple[int, int], rng: np.random.Generator) -> float:
        cover = max(self.height / size[0], self.width / size[1])
        return cover * float(rng.uniform(self.low, self.high))

    def __repr__(self) -> str:
        return f"RandomScaleToCover({self.height}, {self.width}, {self.low}, {self.high})"


class Resize:
    """Resize to exactly height×width (the aspect ratio may change)."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = _positive_int("height", height), _positive_int("width", width)

    def __call__(self, sample: RGBDSample, rng: np.random.Generator) -> RGBDSample:
        return resize_sample(sample, self.height, self.width)

    def __repr__(self) -> str:
        return f"Resize({self.height}, {self.width})"


class Pad:
    """Pad sides shorter than height×width symmetrically; longer sides are left alone.

    A side short by d pixels gets (d + 1) // 2 before and the rest after, so the result is exactly the
    target (the official code pads (d + 1) // 2 on both sides, one pixel too many for odd d, which its
    crop then absorbs). Fills: RGB the ImageNet-mean colour like the official code; label 255, so the loss
    ignores padding; depth 0 = "no measurement". The official code pads depth with the RGB mean values,
    i.e. fake depths the network cannot tell from real ones; 0 is what a sensor reports where it sees nothing.
    """

    def __init__(self, height: int, width: int, rgb_fill: tuple[int, int, int] = IMAGENET_MEAN_RGB_UINT8,
                 depth_fill: int = 0, label_fill: int = IGNORE_INDEX) -> None:  # fmt: skip
        self.height, self.width = _positive_int("height", height), _positive_int("width", width)
        if len(rgb_fill) != 3 or not all(0 <= v <= 255 for v in rgb_fill):
            raise AmfEdgeError(f"Pad: rgb_fill must be 3 values 0..255, got {rgb_fill!r}")
        if not (0 <= depth_fill <= 65535 and 0 <= label_fill <= 255):
            raise AmfEdgeError(f"Pad: depth_fill must be 0..65535 and label_fill 0..255, "
                               f"got {depth_fill} and {label_fill}")
        self.fills = {"rgb": np.asarray(rgb_fill, np.uint8), "depth": depth_fill, "label": label_fill}

    def __call__(self, sample: RGBDSample, rng: np.random.Generator) -> RGBDSample:
        h, w = sample.size
        dh, dw = max(0, self.height - h), max(0, self.width - w)
        if dh == dw == 0:
            return sample
        top, left = (dh + 1) // 2, (dw + 1) // 2

        def pad(a: np.ndarray, fill: object) -> np.ndarray:
            out = np.empty((h + dh, w + dw, *a.shape[2:]), a.dtype)
            out[...] = fill
            out[top : top + h, left : left + w] = a
            return out

        k = sample.intrinsics
        k = None if k is None else Intrinsics(k.fx, k.fy, k.cx + left, k.cy + top)
        label = None if sample.label is None else pad(sample.label, self.fills["label"])
        return RGBDSample(pad(sample.rgb, self.fills["rgb"]), pad(sample.depth, self.fills["depth"]),
                          sample.depth_unit, label, k)  # fmt: skip

    def __repr__(self) -> str:
        rgb = tuple(int(v) for v in self.fills["rgb"])
        fills = f"rgb_fill={rgb}, depth_fill={self.fills['depth']}, label_fill={self.fills['label']}"
        return f"Pad({self.height}, {self.width}, {fills})"


class RandomCrop:
    """A uniformly random height×width window; the sample must be at least that large (pad first)."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = _positive_int("height", height), _positive_int("width", width)

    def __call__(self, sample: RGBDSample, rng: np.random.Generator) -> RGBDSample:
        _check_fits(sample, self.height, self.width, repr(self))
        h, w = sample.size
        top, left = (int(rng.integers(0, n - c + 1)) for n, c in ((h, self.height), (w, self.width)))
        return crop_sample(sample, top, left, self.height, self.width)

    def __repr__(self) -> str:
        return f"RandomCrop({self.height}, {self.width})"


class CenterCrop(RandomCrop):
    """The central height×width window (offsets rounded down); the sample must be at least that large."""

    def __call__(self, sample: RGBDSample, rng: np.random.Generator) -> RGBDSample:
        _check_fits(sample, self.height, self.width, repr(self))
        h, w = sample.size
        return crop_sample(sample, (h - self.height) // 2, (w - self.width) // 2, self.height, self.width)

    def __repr__(self) -> str:
        return f"CenterCrop({self.height}, {self.width})"


class RandomHorizontalFlip:
    """Mirror left-right with probability p (one draw per call, whatever p, so streams stay aligned)."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise AmfEdgeError(f"RandomHorizontalFlip: p must be a probability in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, sample: RGBDSample, rng: np.random.Generator) -> RGBDSample:
        if not rng.random() < self.p:
            return sample
        k = sample.intrinsics
        k = None if k is None else Intrinsics(k.fx, k.fy, (sample.size[1] - 1) - k.cx, k.cy)
        # A copy, not a negative-stride view: torch.from_numpy rejects negative strides.
        return _with(sample, lambda a: np.ascontiguousarray(a[:, ::-1]), k)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


def official_nyudv2_train() -> Compose:
    """The official AsymFusion NYUDv2 training augmentation (after CropAlignToMask, which datasets do).

    Scale U(0.5, 2.0) with a 350-px short side at least, pad to 500×500, mirror, random 500×500 crop.
    """
    return Compose([RandomScale(0.5, 2.0, min_short_side=350), Pad(OFFICIAL_CROP, OFFICIAL_CROP),
                    RandomHorizontalFlip(), RandomCrop(OFFICIAL_CROP, OFFICIAL_CROP)])  # fmt: skip


def fast_train(height: int, width: int, scale: tuple[float, float] = (0.75, 1.25)) -> Compose:
    """Cheap augmentation for small (e.g. synthetic) training at height×width.

    Scale so that the sample just covers height×width, times U(scale); pad what falls short; mirror; crop.
    """
    return Compose([RandomScaleToCover(height, width, *scale), Pad(height, width), RandomHorizontalFlip(),
                    RandomCrop(height, width)])  # fmt: skip


TRAIN_TRANSFORMS = ("official-nyudv2", "fast")


def get_train_transform(name: str, height: int, width: int) -> Compose:
    """The training transform called `name` ("official-nyudv2" or "fast") producing height×width samples."""
    if name == "official-nyudv2":
        if (height, width) != (OFFICIAL_CROP, OFFICIAL_CROP):
            raise AmfEdgeError(f"train transform 'official-nyudv2' crops {OFFICIAL_CROP}×{OFFICIAL_CROP}, but "
                               f"{height}×{width} was asked for; set the size to {OFFICIAL_CROP}×{OFFICIAL_CROP} "
                               "or use the 'fast' transform")
        return official_nyudv2_train()
    if name == "fast":
        return fast_train(height, width)
    raise AmfEdgeError(f"unknown train transform {name!r}; valid names: {', '.join(TRAIN_TRANSFORMS)}")
