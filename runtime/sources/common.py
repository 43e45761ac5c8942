"""What the URI-addressed sources share: their options (parsed by `amf_edge.uri`, as datasets' and sinks' are),
resizing to a model's size, looping."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np

from amf_edge.datasets.imageio import read_depth, read_rgb
from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sources.base import Source
from amf_edge.sample import Intrinsics, RGBDSample
from amf_edge.transforms import resize_sample
from amf_edge.uri import FLAG, Option, parse_uri, positive_float, positive_int

MAX_DT: Option = (positive_float, "a pairing tolerance in seconds > 0, e.g. 0.02")
DEPTH_UNIT: Option = (positive_float, "metres per depth count > 0, e.g. 0.001 for millimetres")
SIZE: Option = (positive_int, "a positive number of pixels")
FILE_OPTIONS: dict[str, Option] = {
    "width": SIZE,
    "height": SIZE,
    "loop": FLAG,  # on: start over at the end (demos)
    "resize": FLAG,  # on (the default): frames of another size than the model's are resized to it; 0: an error
}


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
            yield dataclasses.replace(frame, index=frame.index + index_offset,
                                      timestamp_s=frame.timestamp_s + time_offset)
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


class FileSource(Source):
    """Colour and depth image files under one folder (folder://, tum://).

    Subclasses set `spec` (their URI options), `example` and `layout` (for errors), then fill `pairs`
    with (timestamp_s, colour file, depth file) in capture order; this class reads, checks, resizes and
    loops them.
    """

    spec: Mapping[str, Option] = {}
    example = layout = ""

    def __init__(self, uri: str):
        super().__init__(uri)
        location, self.options = parse_uri(uri, self.scheme, self.spec, self.example, location="folder")
        self.root = Path(location)
        if not self.root.is_dir():
            raise AmfEdgeError(f"{self.scheme}://{location}: folder {self.root} does not exist; {self.layout}")
        self.size = output_size(uri, self.options)
        self.loop = bool(self.options.get("loop", False))
        self.resize = bool(self.options.get("resize", True))
        self.intrinsics: Intrinsics | None = None
        self.pairs: list[tuple[float, Path, Path]] = []
        self.names: list[str] = []  # each pair's name where the source has one (Frame.name)
        self.delivered = 0

    def _one_pass(self) -> Iterator[Frame]:
        for index, (t, color_path, depth_path) in enumerate(self.pairs):
            rgb, depth = read_rgb(color_path), read_depth(depth_path)
            check_shapes(rgb, depth, f"{color_path.name} + {depth_path.name}")
            sample = RGBDSample(rgb, depth, self.depth_unit, intrinsics=self.intrinsics)
            if self.size is not None:
                sample = resize_for_model(sample, *self.size)
            self.delivered += 1
            yield Frame(sample, index, t, time.perf_counter(), name=self.names[index] if self.names else None)

    def __iter__(self) -> Iterator[Frame]:
        return looped(self._one_pass, self.loop)
