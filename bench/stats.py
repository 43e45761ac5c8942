"""Latency statistics, one definition for every number a report carries (numpy only).

Percentiles interpolate linearly between the closest ranks (numpy's default, "type 7" of Hyndman and Fan),
so p50 of [1, 2, 3, 4] is 2.5. Two measures of spread:
  std     the standard deviation (population, ddof=0) of the samples;
  jitter  the mean absolute difference between consecutive samples, |x[i] − x[i−1]| (RFC 3550's
          interarrival jitter without its smoothing): how much one frame's time differs from the next's,
          which a steady but slow drift does not inflate the way it inflates std.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

KEYS = ("n", "mean", "std", "jitter", "min", "p50", "p90", "p99", "max")
DIGITS = 4  # 0.1 µs in milliseconds: well below any timer's resolution here


def summarize(samples: Sequence[float] | np.ndarray) -> dict | None:
    """{n, mean, std, jitter, min, p50, p90, p99, max} of the samples (in their unit), or None for no samples."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if x.size == 0:
        return None
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{int(np.sum(~np.isfinite(x)))} of {x.size} samples are not finite")
    p50, p90, p99 = np.percentile(x, [50, 90, 99])
    jitter = float(np.mean(np.abs(np.diff(x)))) if x.size > 1 else 0.0
    values = {"mean": x.mean(), "std": x.std(), "jitter": jitter, "min": x.min(), "p50": p50, "p90": p90,
              "p99": p99, "max": x.max()}
    return {"n": int(x.size), **{k: round(float(v), DIGITS) for k, v in values.items()}}


def throughput(latencies_ms: Sequence[float] | np.ndarray) -> float | None:
    """Frames per second of back-to-back runs: count over total time (not 1000 / mean of rates)."""
    x = np.asarray(latencies_ms, dtype=np.float64)
    total = float(x.sum())
    return round(x.size * 1e3 / total, 3) if x.size and total > 0 else None


def ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, or None when either is missing or the reference is 0."""
    if value is None or reference is None or reference == 0:
        return None
    return round(value / reference, 4)
