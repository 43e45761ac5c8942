"""Frames read once, replayed from memory: every model sees the same frames, and reading or rendering
them (a .bag's decoding, the synthetic scenes' drawing) does not compete with the measurement.

Each replayed frame keeps its sample, capture timestamp and `sync_ms` (the pairing cost the source
measured when the frame was read) and gets a fresh `received_s`. With `rate` the replay paces itself like
a camera (frame i no earlier than start + i / rate); without it, frames come as fast as they are taken
(saturation). It ends after `count` frames, or, with `count` None, once `stop()` is called (a camera that
keeps streaming while it is measured). `captured` keeps the perf_counter time each frame was handed out, by
its index.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sources import open_source
from amf_edge.runtime.sources.base import Source


def read_frames(uri: str, count: int) -> list[Frame]:
    """The first `count` frames of a source (fewer if it ends sooner; at least one)."""
    frames: list[Frame] = []
    with open_source(uri) as source:
        for frame in source:
            frames.append(frame)
            if len(frames) >= count:
                break
    if not frames:
        raise AmfEdgeError(f"the source {uri} gave no frames; expected at least 1 to measure with")
    return frames


def source_rate(frames: Sequence[Frame]) -> float | None:
    """The rate the frames were captured at, from their timestamps: one over the median interval (a dropped
    frame or a late one does not move it); None with fewer than two frames, no increasing timestamps or a rate
    no camera has (timestamps that are not seconds)."""
    stamps = np.asarray([f.timestamp_s for f in frames], dtype=np.float64)
    steps = np.diff(stamps)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    if not steps.size:
        return None
    rate = 1.0 / float(np.median(steps))
    return round(rate, 3) if 0.1 <= rate <= 1000.0 else None


class ReplaySource(Source):
    scheme = "replay"

    def __init__(self, frames: Sequence[Frame], count: int | None, *, start: int = 0, rate: float | None = None):
        super().__init__(f"replay://?frames={len(frames)}" + (f"&count={count}" if count is not None else "")
                         + (f"&rate={rate:g}" if rate else ""))
        if not frames:
            raise AmfEdgeError("nothing to replay: no frames were read")
        self.frames, self.count, self.start, self.rate = frames, count, start, rate
        self.captured: dict[int, float] = {}
        self._stop = threading.Event()

    def stop(self) -> None:
        """End the replay before its next frame (thread-safe)."""
        self._stop.set()

    def __iter__(self) -> Iterator[Frame]:
        begin = time.perf_counter()
        for i in range(self.count) if self.count is not None else itertools.count():
            if self.rate:
                delay = begin + i / self.rate - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)
            if self._stop.is_set():
                return
            n = self.start + i
            f = self.frames[n % len(self.frames)]
            now = self.captured[n] = time.perf_counter()
            yield Frame(f.sample, index=n, timestamp_s=f.timestamp_s, received_s=now, sync_ms=f.sync_ms)
