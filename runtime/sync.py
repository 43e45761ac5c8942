"""Pairing colour and depth frames by timestamp, with the statistics a user needs to trust the pairs.

Two situations, two tools, one statistics record:

- `associate(color_times, depth_times, max_dt)`: complete timestamp lists known up front (TUM RGB-D, whose
  colour and depth cameras are not synchronised). Like TUM's `associate.py`: every (colour, depth) pair
  closer than `max_dt` is a candidate; candidates are accepted greedily from the smallest difference up,
  each frame used at most once; the result is sorted by colour time. Input order does not matter.
- `StreamSynchronizer`: frames arriving one by one from a camera or a recording (RealSense). Each stream
  must come in capture order. A frame whose number is not newer than the last one seen on its stream is
  a stale repeat (librealsense re-sends the other stream's last frame in partial framesets) and is
  dropped as a duplicate; a new frame number with an older timestamp is dropped as out of order (the
  device clock jumped back, and pairing across the jump would be wrong). Pairing is a merge in time
  order: the oldest waiting colour and depth frames pair when they are less than `max_dt` apart; else the
  older one is unmatched (every later frame of the other stream is further away still). With `max_dt`
  at most half the frame period, a pair is always each other's nearest frame, and the result does not
  depend on how the two streams interleave on arrival.

Both report `SyncStats`: matched pairs, unmatched colour and depth frames, duplicates and out-of-order
frames dropped, and the largest |t_colour − t_depth| among matched pairs.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from amf_edge.errors import AmfEdgeError

STREAMS = ("color", "depth")


@dataclass
class SyncStats:
    """Pairing statistics; `to_dict` is what sources report in `stats()`."""

    matched: int = 0
    unmatched_color: int = 0
    unmatched_depth: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    max_skew_s: float = 0.0

    def add_match(self, skew_s: float) -> None:
        self.matched += 1
        self.max_skew_s = max(self.max_skew_s, abs(skew_s))

    def to_dict(self) -> dict:
        return asdict(self)


def check_max_dt(max_dt: float) -> float:
    if isinstance(max_dt, bool) or not isinstance(max_dt, (int, float)) or not (math.isfinite(max_dt) and max_dt > 0):
        raise AmfEdgeError(f"the pairing tolerance max_dt must be a number of seconds > 0, e.g. 0.02, got {max_dt!r}")
    return float(max_dt)


def associate(color_times: Sequence[float], depth_times: Sequence[float],
              max_dt: float) -> tuple[list[tuple[int, int]], SyncStats]:
    """Greedy nearest pairs of two timestamp lists, as TUM's associate.py (see the module docstring).

    Args:
        color_times, depth_times: seconds, in any order.
        max_dt: pairs must be closer than this many seconds (strictly, as associate.py's `<`).

    Returns:
        (colour index, depth index) pairs sorted by colour time, and the statistics.
    """
    max_dt = check_max_dt(max_dt)
    order = sorted(range(len(depth_times)), key=lambda j: depth_times[j])
    sorted_depth = [depth_times[j] for j in order]
    candidates = []
    # Only depth times inside (t − max_dt, t + max_dt) can pair with colour time t: a window per colour frame
    # instead of associate.py's all-pairs product, same candidates.
    for i, t in enumerate(color_times):
        lo = bisect.bisect_right(sorted_depth, t - max_dt)
        hi = bisect.bisect_left(sorted_depth, t + max_dt)
        for k in range(lo, hi):
            diff = abs(t - sorted_depth[k])
            if diff < max_dt:
                candidates.append((diff, i, order[k]))
    candidates.sort()  # ties broken by colour then depth index: deterministic
    used_color, used_depth, pairs = set(), set(), []
    stats = SyncStats()
    for diff, i, j in candidates:
        if i not in used_color and j not in used_depth:
            used_color.add(i)
            used_depth.add(j)
            pairs.append((i, j))
            stats.add_match(diff)
    pairs.sort(key=lambda p: (color_times[p[0]], p[0]))
    stats.unmatched_color = len(color_times) - len(pairs)
    stats.unmatched_depth = len(depth_times) - len(pairs)
    return pairs, stats


@dataclass
class Stamped:
    """One frame of one stream as the synchronizer sees it; `payload` is whatever the caller attached."""

    number: int
    timestamp_s: float
    payload: Any = None


class StreamSynchronizer:
    """Pairs frames of a colour and a depth stream as they arrive (see the module docstring).

    Args:
        max_dt: pairs must be closer than this many seconds (strictly, as in `associate`).
        max_pending: frames a stream may hold while the other stream is silent; beyond it the oldest is
            given up as unmatched, so a dead stream cannot make the other one pile up frames (and, for
            librealsense, exhaust its frame pool).
    """

    def __init__(self, max_dt: float, max_pending: int = 32) -> None:
        self.max_dt = check_max_dt(max_dt)
        if max_pending < 1:
            raise ValueError(f"max_pending must be ≥ 1, got {max_pending}")
        self.max_pending = max_pending
        self.stats = SyncStats()
        self._pending: dict[str, deque[Stamped]] = {s: deque() for s in STREAMS}
        self._last: dict[str, Stamped | None] = {s: None for s in STREAMS}

    def push(self, stream: str, number: int, timestamp_s: float, payload: Any = None) -> list[tuple[Stamped, Stamped]]:
        """Offer one frame; returns the (colour, depth) pairs it completes, oldest first."""
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
        last = self._last[stream]
        if last is not None and number <= last.number:
            self.stats.duplicates += 1
            return []
        if last is not None and timestamp_s < last.timestamp_s:
            self.stats.out_of_order += 1
            return []
        frame = Stamped(number, timestamp_s, payload)
        self._last[stream] = frame
        pending = self._pending[stream]
        pending.append(frame)
        if len(pending) > self.max_pending:
            pending.popleft()
            self._count_unmatched(stream, 1)
        return self._merge()

    def finish(self) -> None:
        """End of both streams: whatever still waits for a partner is unmatched."""
        for stream in STREAMS:
            self._count_unmatched(stream, len(self._pending[stream]))
            self._pending[stream].clear()

    def reset(self) -> None:
        """Start a new pass (a looped recording restarts its frame numbers); statistics carry on."""
        self.finish()
        self._last = {s: None for s in STREAMS}

    def _count_unmatched(self, stream: str, n: int) -> None:
        if stream == "color":
            self.stats.unmatched_color += n
        else:
            self.stats.unmatched_depth += n

    def _merge(self) -> list[tuple[Stamped, Stamped]]:
        color, depth = self._pending["color"], self._pending["depth"]
        pairs = []
        while color and depth:
            c, d = color[0], depth[0]
            if c.timestamp_s - d.timestamp_s >= self.max_dt:
                depth.popleft()  # every later colour frame is later still: d can never pair
                self.stats.unmatched_depth += 1
            elif d.timestamp_s - c.timestamp_s >= self.max_dt:
                color.popleft()
                self.stats.unmatched_color += 1
            else:
                color.popleft()
                depth.popleft()
                self.stats.add_match(c.timestamp_s - d.timestamp_s)
                pairs.append((c, d))
        return pairs
