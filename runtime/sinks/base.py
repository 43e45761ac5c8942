"""The output interface: what a sink receives (`Result`) and what it knows about the run (`SinkContext`).
A sink's URI is parsed by `amf_edge.uri`, like every dataset's and source's.

A sink is constructed from its URI without touching any resource, so a bad URI fails before the model
loads; `check` then makes sure its output can be written (the folder exists or can be made, a file can be
created in it), also before the model loads; `open` acquires (a window, a port, a folder), `write` takes
one result on the pipeline's output thread, `close` flushes and releases: always called, also after an
error, and safe to call twice. `describe` says afterwards where the sink wrote, for `amf-edge run`.

File sinks check every write: a failed one (a full disk, EIO, no permission) raises AmfEdgeError, which
stops the run (exit 1) after what was written is made whole (files.py).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sinks.files import fix_for


class StopStream(Exception):
    """Raised by a sink when the user asks to stop (q in the window): the run ends normally."""


@dataclass
class Result:
    """One frame through the model.

    Attributes:
        frame: the source's frame (sample.rgb is RGB uint8 H×W×3).
        outputs: the model's outputs by name without the batch axis (labels uint8 H×W, ...).
        timing_ms: the frame's stage times so far (amf_edge.runtime.pipeline.STAGES up to postprocess; queue so far).
        handed_s: perf_counter time the inference thread handed the result to the output queue.
        views: pictures rendered for this frame (amf_edge.runtime.sinks.views), shared by every sink so an overlay
            is drawn once however many sinks show it.
    """

    frame: Frame
    outputs: dict[str, np.ndarray]
    timing_ms: dict[str, float]
    handed_s: float = 0.0
    views: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    notes: tuple[str, ...] = ()  # what the runtime says about these labels (e.g. the depth fallback's): on the overlay

    @property
    def labels(self) -> np.ndarray:
        return self.outputs["labels"]


@dataclass
class RunReport:
    """What the pipeline hands every sink at close: the summary and the per-frame log (column → values)."""

    summary: dict[str, Any]
    frames: dict[str, list]


@dataclass
class SinkContext:
    """What a sink may know about the run it is part of."""

    labels: LabelSet
    channel_order: str  # of the model's in-graph overlay output, if it has one
    policy: str
    backend: dict
    frame_size: tuple[int, int] | None = None  # (H, W) when the model fixes it, None for dynamic models
    live_stats: Callable[[], dict] = dict  # fps, latency, counters so far; cheap, call once per frame at most

    def __post_init__(self) -> None:
        # BGR: every sink hands pictures to OpenCV, which stores BGR.
        self.lut_bgr = np.ascontiguousarray(self.labels.lut()[:, ::-1])


class Sink(abc.ABC):
    scheme: str = "?"

    def __init__(self, uri: str):
        self.uri = uri
        self.written = 0

    def check(self) -> None:
        """Make sure the output can be written, before the model loads; raise AmfEdgeError when it cannot."""

    def open(self, context: SinkContext) -> None:
        """Acquire what the sink needs; raise AmfEdgeError when it cannot."""
        self.context = context
        self._opened_at = time.time()

    @abc.abstractmethod
    def write(self, result: Result) -> None:
        """Take one result. Raise StopStream when the user asked to stop."""

    def close(self, report: RunReport | None = None) -> None:
        """Flush and release. `report` is None when the run never started."""

    def stats(self) -> dict:
        return {"written": self.written}

    def describe(self) -> str | None:
        """One line on where the sink wrote, after close (e.g. 'wrote video: out.mp4 (300 frames, 7.1 fps,
        H.264)'); None for sinks that leave nothing behind. By default: a sink with a `path` that this run
        wrote (modified since open) names it."""
        path, opened = getattr(self, "path", None), getattr(self, "_opened_at", None)
        try:
            if path is None or opened is None or Path(path).stat().st_mtime < opened - 1:
                return None  # not this run's: written before, or not at all
        except OSError:
            return None
        return f"wrote {self.scheme}: {path} ({self.written} frames)"


def prepare_file(uri: str, path: Path, hint: str) -> None:
    """Make `path` ready to be written at open: not a folder (`hint` says what to name instead), its folder there."""
    if path.is_dir():
        raise AmfEdgeError(f"{uri}: {path} is a folder; {hint}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AmfEdgeError(f"{uri}: cannot create the folder {path.parent} ({e.strerror}); {fix_for(e)}") from None
