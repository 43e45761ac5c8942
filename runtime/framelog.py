"""The pipeline's per-frame log in bounded memory: the last frames exactly, the whole run in sums and a histogram.

A run may last for days (a robot's camera at 30 FPS is 2.6 million frames a day), so the log cannot keep
every frame: it used to, at about 120 bytes a frame (0.3 GB a day). Now it keeps

  - the last `keep` frames, every column, in a ring buffer (what sinks get at close as `RunReport.frames`,
    and the exact latency percentiles of a run no longer than that);
  - for the whole run: the frame count, each column's sum (exact stage means) and latency's maximum, and a
    histogram of latency in bins 1 % wide on a log scale, from which the percentiles of a longer run come
    (each within 0.5 % of the exact value: a bin's geometric centre is that close to anything in it).

`stats://` streams every frame's row to its file as it comes, so nothing is lost on disk either.
Memory: keep × columns × 8 bytes (1.1 MB for 10,000 frames of 14 columns) plus 16 kB of histogram.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

KEEP_FRAMES = 10_000  # 5.5 minutes at 30 FPS: the recent past exactly, in about 1 MB
HIST_LOW_MS, HIST_HIGH_MS, HIST_STEP = 1e-3, 1e6, 0.01  # 1 µs to 17 minutes, bins 1 % wide
_LOG_STEP = math.log1p(HIST_STEP)
_BINS = math.ceil(math.log(HIST_HIGH_MS / HIST_LOW_MS) / _LOG_STEP) + 1


class LatencyHistogram:
    """Counts of values (ms) in bins 1 % wide on a log scale; percentiles within 0.5 % of the exact ones."""

    def __init__(self) -> None:
        self.counts = np.zeros(_BINS, np.int64)
        self.n = 0
        self.max = -math.inf
        self.min = math.inf

    def add(self, value_ms: float) -> None:
        if value_ms > HIST_LOW_MS:
            b = min(int(math.log(value_ms / HIST_LOW_MS) / _LOG_STEP) + 1, _BINS - 1)
        else:
            b = 0  # 1 µs or less (or a clock step backwards): the lowest bin
        self.counts[b] += 1
        self.n += 1
        self.max = max(self.max, value_ms)
        self.min = min(self.min, value_ms)

    def percentiles(self, qs: Sequence[float]) -> list[float]:
        """The q-th percentiles (0–100) of what was added: each bin's geometric centre, clamped to the exact
        minimum and maximum. Raises ValueError when empty."""
        if not self.n:
            raise ValueError("no values")
        cumulative = np.cumsum(self.counts)
        out = []
        for q in qs:
            rank = q / 100 * (self.n - 1)  # numpy's default (linear) rank, taken to the value at or below it
            b = int(np.searchsorted(cumulative, math.floor(rank) + 1))
            centre = HIST_LOW_MS * math.exp((b - 0.5) * _LOG_STEP) if b else HIST_LOW_MS
            out.append(min(max(centre, self.min), self.max))
        return out


class FrameLog:
    """Rows of `columns` (floats), one per frame that reached the output; see the module docstring."""

    def __init__(self, columns: Sequence[str], keep: int = KEEP_FRAMES, latency: str = "latency_ms") -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.columns = tuple(columns)
        self.keep = keep
        self._latency = self.columns.index(latency)
        # grows by doubling up to `keep`: a short run (a test, a benchmark turn) does not pay for a long one
        self._ring = np.empty((min(keep, 256), len(self.columns)), np.float64)
        self._sums = np.zeros(len(self.columns), np.float64)
        self.count = 0
        self.latency = LatencyHistogram()

    def append(self, row: Sequence[float]) -> None:
        if self.count < self.keep and self.count == len(self._ring):
            bigger = np.empty((min(self.keep, 2 * len(self._ring)), len(self.columns)), np.float64)
            bigger[: self.count] = self._ring
            self._ring = bigger
        values = np.asarray(row, np.float64)
        self._ring[self.count % self.keep] = values
        self._sums += values
        self.count += 1
        self.latency.add(float(values[self._latency]))

    @property
    def complete(self) -> bool:
        """Whether every frame of the run is still held (the run was no longer than `keep` frames)."""
        return self.count <= self.keep

    def recent(self) -> dict[str, np.ndarray]:
        """The kept frames, oldest first: column → float64 array."""
        n = min(self.count, self.keep)
        start = self.count % self.keep if self.count > self.keep else 0
        rows = np.roll(self._ring[:n], -start, axis=0) if start else self._ring[:n]
        return {name: rows[:, i].copy() for i, name in enumerate(self.columns)}

    def mean(self, column: str) -> float | None:
        return float(self._sums[self.columns.index(column)] / self.count) if self.count else None

    def total(self, column: str) -> float:
        return float(self._sums[self.columns.index(column)])
