"""Reading dataset images (numpy + OpenCV, imported lazily) with strict type checks.

Each reader says exactly what it found when a file is not what a dataset needs, because a wrong file
(an 8-bit depth visualisation, a colour-coded mask) otherwise trains silently on garbage.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.labels import IGNORE_INDEX, LabelSet
from amf_edge.lazy import require_module
from amf_edge.sample import RGBDSample

PathLike = str | os.PathLike


def describe(image: np.ndarray) -> str:
    """'8-bit with 3 channels', '16-bit with 1 channel', '32-bit float with 1 channel', ..."""
    bits = f"{image.dtype.itemsize * 8}-bit" + (" float" if np.issubdtype(image.dtype, np.floating) else "")
    channels = 1 if image.ndim == 2 else image.shape[2]
    return f"{bits} with {channels} channel{'s' if channels != 1 else ''}"


def _decode(path: PathLike, what: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise AmfEdgeError(f"{what} image {path} does not exist; check the dataset folder and its file lists")
    cv2 = require_module("cv2", "reading dataset images")
    # Decode the bytes rather than cv2.imread(path): imread answers None alike for unreadable and corrupt
    # files, and cannot open non-ASCII paths on Windows.
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise AmfEdgeError(f"{what} image {path} is empty or not an image OpenCV can decode; re-save it as PNG")
    return image


def read_rgb(path: PathLike) -> np.ndarray:
    """A colour image as uint8 H×W×3 in RGB order (OpenCV decodes BGR; an alpha channel is dropped)."""
    image = _decode(path, "rgb")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise AmfEdgeError(
            f"rgb image {path} is {describe(image)}; expected an 8-bit colour image with 3 channels "
            "(or 4, whose alpha is dropped); convert it to 8-bit RGB"
        )
    cv2 = require_module("cv2", "reading dataset images")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB if image.shape[2] == 3 else cv2.COLOR_BGRA2RGB)


def read_depth(path: PathLike) -> np.ndarray:
    """A depth map as uint16 H×W raw counts, exactly as stored (0 = no measurement)."""
    image = _decode(path, "depth")
    if image.dtype != np.uint16 or image.ndim != 2:
        raise AmfEdgeError(
            f"depth image {path} is {describe(image)}; expected a single-channel 16-bit PNG of raw depth "
            "counts (an 8-bit or colour depth picture is a visualisation and has lost the metric depth)"
        )
    return image


def read_label(path: PathLike) -> np.ndarray:
    """A mask as uint8 H×W class ids (255 = ignore), exactly as stored."""
    image = _decode(path, "label")
    if image.dtype != np.uint8 or image.ndim != 2:
        raise AmfEdgeError(
            f"label image {path} is {describe(image)}; expected a single-channel 8-bit PNG of class ids "
            f"({IGNORE_INDEX} = ignore); convert colour-coded or palette masks to a greyscale id image"
        )
    return image


def crop_align_to_mask(image: np.ndarray, mask_shape: tuple[int, int], what: str) -> np.ndarray:
    """Centre-crop `image` (H×W or H×W×C) to `mask_shape`, like the official `CropAlignToMask`.

    When a release stores masks smaller than their images, the official AsymFusion/CEN loader centre-crops
    rgb and depth to the mask, so we do the same. Offsets are (image − mask) // 2 per axis. An image smaller
    than its mask cannot be aligned and is an error.
    """
    (h, w), (mh, mw) = image.shape[:2], mask_shape
    if (h, w) == (mh, mw):
        return image
    if h < mh or w < mw:
        raise AmfEdgeError(
            f"{what} is {h}×{w} but its mask is {mh}×{mw}; an image smaller than its mask cannot be aligned "
            "(only larger images are centre-cropped to the mask); check that the files belong together"
        )
    top, left = (h - mh) // 2, (w - mw) // 2
    return image[top : top + mh, left : left + mw]


def check_label_ids(raw: np.ndarray, labels: LabelSet, path: PathLike, offset: int = 0, hint: str = "") -> None:
    """Raise unless every value of the stored mask is a class id (shifted by `offset`) or 255."""
    # bincount is one linear pass, much cheaper than np.unique's sort on a 640×480 mask.
    counts = np.bincount(raw.ravel(), minlength=256)
    first_bad = labels.num_classes + offset
    bad = np.flatnonzero(counts[first_bad:IGNORE_INDEX]) + first_bad
    if bad.size:
        shown = ", ".join(str(v) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        valid = f"{offset}..{first_bad - 1}" + (" (0 = unlabelled)" if offset else "")
        raise AmfEdgeError(
            f"label image {path} holds values {shown}, but label set {labels.name!r} has "
            f"{labels.num_classes} classes: the valid values are {valid} and {IGNORE_INDEX} (ignore){hint}"
        )


def shift_labels(raw: np.ndarray, offset: int) -> np.ndarray:
    """Map stored values to class ids: with offset 1, 0 (unlabelled) → 255 and k → k − 1; 255 stays 255."""
    if offset == 0:
        return raw
    lut = (np.arange(256) - offset).astype(np.uint8)
    lut[:offset] = IGNORE_INDEX
    lut[IGNORE_INDEX] = IGNORE_INDEX
    return lut[raw]


def load_labelled_sample(
    rgb_path: PathLike,
    depth_path: PathLike,
    label_path: PathLike,
    labels: LabelSet,
    depth_unit: float,
    label_offset: int = 0,
    hint: str = "",
) -> RGBDSample:
    """Read one rgb/depth/label triple, centre-crop rgb and depth to the mask, and check the class ids.

    The sample has no intrinsics: dataset releases store none per image, and any crop would shift them.
    """
    raw = read_label(label_path)
    check_label_ids(raw, labels, label_path, label_offset, hint)
    rgb = crop_align_to_mask(read_rgb(rgb_path), raw.shape, f"rgb image {rgb_path}")
    depth = crop_align_to_mask(read_depth(depth_path), raw.shape, f"depth image {depth_path}")
    # Crops are views into the full decoded images; copy so a sample does not pin the larger buffers.
    rgb, depth = np.ascontiguousarray(rgb), np.ascontiguousarray(depth)
    return RGBDSample(rgb, depth, depth_unit, shift_labels(raw, label_offset))
