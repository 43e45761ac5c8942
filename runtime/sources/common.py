"""What the URI-addressed sources share: option parsing, resizing to a model's size, looping.

URIs are `SCHEME://LOCATION?key=value&...`. Only the first '?' separates the location from the options
and the location is taken literally (no percent-decoding), so ordinary file names survive, as in
`amf_edge.datasets.parse_dataset_uri`. Unknown, repeated or malformed options are errors that list
what is valid.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import parse_qsl

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.sample import Intrinsics, RGBDSample
from amf_edge.transforms import resize_sample
from runtime.frames import Frame

Option = tuple[Callable[[str], object], str]  # (parser raising ValueError, what a valid value is)


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError
    return value


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError
    return value


def flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError
    return text == "1"


MAX_DT: Option = (positive_float, "a pairing tolerance in seconds > 0, e.g. 0.02")
DEPTH_UNIT: Option = (positive_float, "metres per depth count > 0, e.g. 0.001 for millimetres")
SIZE: Option = (positive_int, "a positive number of pixels")
FILE_OPTIONS: dict[str, Option] = {
    "width": SIZE,
    "height": SIZE,
    "loop": (flag, "0, or 1 to start over at the end (demos)"),
}


def parse_uri(uri: str, scheme: str, options: Mapping[str, Option], example: str) -> tuple[str, dict[str, object]]:
    """`scheme://LOCATION?opts` → (LOCATION with ~ expanded, parsed options); see the module docstring."""
    given_scheme, sep, rest = uri.partition("://")
    if not sep or given_scheme != scheme:
        raise AmfEdgeError(f"expected a {scheme}:// URI like {example!r}, got {uri!r}")
    location, _, query = rest.partition("?")
    parsed: dict[str, object] = {}
    for key, text in parse_qsl(query, keep_blank_values=True):
        if key not in options:
            raise AmfEdgeError(f"{uri!r}: unknown option {key!r}; valid options for {scheme}://: {', '.join(options)}")
        if key in parsed:
            raise AmfEdgeError(f"{uri!r}: option {key!r} is given twice; give it once")
        parse, expected = options[key]
        try:
            parsed[key] = parse(text)
        except ValueError:
            raise AmfEdgeError(f"{uri!r}: option {key!r} must be {expected}, got {text!r}") from None
    return os.path.expanduser(location), parsed


def output_size(uri: str, options: Mapping[str, object]) -> tuple[int, int] | None:
    """(height, width) from ?width=&height=, which come together or not at all."""
    width, height = options.get("width"), options.get("height")
    if (width is None) != (height is None):
        raise AmfEdgeError(f"{uri!r}: give both width and height (the size of the model input), or neither")
    return None if width is None else (int(height), int(width))


def intrinsics_option(uri: str, options: Mapping[str, object]) -> Intrinsics | None:
    """Intrinsics from ?fx=&fy=&cx=&cy= (all four or none)."""
    keys = ("fx", "fy", "cx", "cy")
    given = [k for k in keys if k in options]
    if not given:
        return None
    if len(given) != 4:
        missing = ", ".join(k for k in keys if k not in options)
        raise AmfEdgeError(f"{uri!r}: intrinsics need all of fx, fy, cx, cy in pixels; missing {missing}")
    return Intrinsics(*(float(options[k]) for k in keys))


def resize_for_model(sample: RGBDSample, height: int, width: int) -> RGBDSample:
    """`sample` at height×width for a model exported at that size.

    The one resize of the preprocessing contract (`amf_edge.transforms.resize_sample`: colour bicubic,
    depth nearest at pixel centres so raw counts are never blended, intrinsics scaled), so calibration,
    evaluation and the runtime feed a model identical inputs for the same frame.
    """
    return resize_sample(sample, height, width)


def looped(make_pass: Callable[[], Iterator[Frame]], loop: bool) -> Iterator[Frame]:
    """The frames of one pass, or of endless passes when `loop`, with indices and timestamps that keep growing.

    Each pass restarts the file, so the next one is shifted to begin one frame after the previous ended
    (one mean frame interval later; 1/30 s after a single-frame pass): consumers see one long stream.
    """
    index_offset, time_offset = 0, 0.0
    while True:
        first = last = None
        count = 0
        for frame in make_pass():
            if first is None:
                first = frame
            last, count = frame, count + 1
            yield dataclasses.replace(frame, index=frame.index + index_offset, timestamp_s=frame.timestamp_s + time_offset)
        if not loop or last is None:
            return
        span = last.timestamp_s - first.timestamp_s
        index_offset += last.index - first.index + 1
        time_offset += span + (span / (count - 1) if count > 1 else 1 / 30)


def check_shapes(rgb: np.ndarray, depth: np.ndarray, what: str) -> None:
    if rgb.shape[:2] != depth.shape:
        raise AmfEdgeError(
            f"{what}: colour is {rgb.shape[0]}×{rgb.shape[1]} but depth is {depth.shape[0]}×{depth.shape[1]}; "
            "a file source expects depth registered to the colour image at the same size"
        )
