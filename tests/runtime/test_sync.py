"""amf_edge.runtime.sync on hand-made timestamp streams: TUM-style association and streaming pairing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.sync import StreamSynchronizer, associate

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

FPS = 30.0
T = 1 / FPS


# --- associate (complete lists, TUM) ------------------------------------------------------------------


def test_associate_pairs_equal_streams_one_to_one():
    times = [100 + i * T for i in range(5)]
    pairs, stats = associate(times, times, 0.02)
    assert pairs == [(i, i) for i in range(5)]
    assert (stats.matched, stats.unmatched_color, stats.unmatched_depth, stats.max_skew_s) == (5, 0, 0, 0.0)


def test_associate_with_jitter_and_a_constant_offset_pairs_nearest_and_reports_the_skew():
    rng = np.random.default_rng(0)
    color = [100 + i * T + rng.uniform(-0.002, 0.002) for i in range(20)]
    depth = [100 + i * T + 0.011 + rng.uniform(-0.002, 0.002) for i in range(20)]
    pairs, stats = associate(color, depth, 0.02)
    assert pairs == [(i, i) for i in range(20)]
    assert stats.max_skew_s == pytest.approx(max(abs(c - d) for c, d in zip(color, depth)))
    assert 0.007 < stats.max_skew_s < 0.015


def test_associate_dropped_depth_frame_leaves_its_colour_unmatched():
    color = [i * T for i in range(6)]
    depth = [t for i, t in enumerate(color) if i != 3]  # depth frame 3 lost
    pairs, stats = associate(color, depth, 0.01)
    assert pairs == [(0, 0), (1, 1), (2, 2), (4, 3), (5, 4)]
    assert (stats.matched, stats.unmatched_color, stats.unmatched_depth) == (5, 1, 0)


def test_associate_uses_each_frame_once_and_prefers_the_smallest_difference():
    # One depth frame between two colour frames: the closer colour frame gets it, the other stays alone.
    pairs, stats = associate([1.000, 1.012], [1.010], 0.02)
    assert pairs == [(1, 0)]
    assert (stats.unmatched_color, stats.unmatched_depth) == (1, 0)
    assert stats.max_skew_s == pytest.approx(0.002)


def test_associate_greedy_order_is_tum_associate_py():
    # Candidates (|Δ|): c0-d0 0.008, c1-d0 0.005, c1-d1 0.009. Greedy takes c1-d0 first, so c0 and d1 stay
    # unmatched although a perfect matching of two pairs exists: exactly what associate.py does.
    pairs, stats = associate([0.000, 0.013], [0.008, 0.022], 0.01)
    assert pairs == [(1, 0)]
    assert (stats.matched, stats.unmatched_color, stats.unmatched_depth) == (1, 1, 1)


def test_associate_is_strict_at_the_tolerance_and_order_independent():
    pairs, _ = associate([0.0, 1.0], [0.25, 1.0], 0.25)  # exactly max_dt apart: rejected, as associate.py's "<"
    assert pairs == [(1, 1)]
    color, depth = [0.3, 0.1, 0.2], [0.21, 0.11, 0.31]
    pairs, stats = associate(color, depth, 0.02)
    assert pairs == [(1, 1), (2, 0), (0, 2)]  # sorted by colour time, indices into the given (unsorted) lists
    assert stats.matched == 3


def test_associate_rejects_a_bad_tolerance():
    for bad in (0, -0.1, float("nan"), True):
        with pytest.raises(AmfEdgeError, match="max_dt"):
            associate([0.0], [0.0], bad)


# --- StreamSynchronizer (frames as they arrive) -------------------------------------------------------------


def feed(sync, events):
    """events: (stream, number, t); returns [(colour number, depth number)] in emission order."""
    out = []
    for stream, number, t in events:
        out += [(c.number, d.number) for c, d in sync.push(stream, number, t, payload=(stream, number))]
    return out


def interleaved(n, skew=0.0, first=1):
    events = []
    for i in range(n):
        events += [("depth", first + i, 10 + i * T + skew), ("color", first + i, 10 + i * T)]
    return events


def test_stream_pairs_equal_frames_immediately():
    sync = StreamSynchronizer(0.5 * T)
    assert feed(sync, interleaved(1)) == [(1, 1)]  # no waiting for a later frame: live latency stays one frame
    assert feed(sync, interleaved(3, first=2)) == [(2, 2), (3, 3), (4, 4)]
    sync.finish()
    assert sync.stats.to_dict() == {"matched": 4, "unmatched_color": 0, "unmatched_depth": 0, "duplicates": 0,
                                    "out_of_order": 0, "max_skew_s": 0.0}


def test_stream_payload_travels_with_its_frame():
    sync = StreamSynchronizer(0.01)
    sync.push("color", 7, 1.0, payload="c7")
    [(c, d)] = sync.push("depth", 9, 1.004, payload="d9")
    assert (c.payload, d.payload, c.number, d.number, d.timestamp_s) == ("c7", "d9", 7, 9, 1.004)


def test_stream_jitter_pairs_every_frame_and_reports_max_skew():
    rng = np.random.default_rng(1)
    jitter = rng.uniform(-0.006, 0.006, 30)
    events = []
    for i in range(30):
        events += [("color", i, i * T), ("depth", i, i * T + jitter[i])]
    sync = StreamSynchronizer(0.5 * T)
    assert feed(sync, events) == [(i, i) for i in range(30)]
    assert sync.stats.max_skew_s == pytest.approx(np.abs(jitter).max())


def test_stream_dropped_frames_in_one_stream_are_counted_not_mispaired():
    events = [e for e in interleaved(8) if not (e[0] == "depth" and e[1] in (3, 4))]  # depth 3, 4 lost
    sync = StreamSynchronizer(0.5 * T)
    pairs = feed(sync, events)
    sync.finish()
    assert pairs == [(1, 1), (2, 2), (5, 5), (6, 6), (7, 7), (8, 8)]
    assert (sync.stats.matched, sync.stats.unmatched_color, sync.stats.unmatched_depth) == (6, 2, 0)


def test_stream_drops_stale_framesets_as_librealsense_sends_them_on_db3_playback():
    # What rs.pipeline emits for a .db3: each new frame with the other stream's previous one, i.e. (c1,d1),
    # (c1,d2), (c2,d2), (c2,d3), ... Pushed frame by frame, every repeated frame number is a duplicate.
    framesets = [(1, 1)] + [(c, d) for k in range(2, 6) for c, d in ((k - 1, k), (k, k))]
    sync = StreamSynchronizer(0.5 * T)
    events = [e for c, d in framesets for e in (("color", c, 10 + (c - 1) * T), ("depth", d, 10 + (d - 1) * T))]
    assert feed(sync, events) == [(k, k) for k in range(1, 6)]
    assert sync.stats.duplicates == len(framesets) * 2 - 10
    assert sync.stats.matched == 5


def test_stream_off_by_one_framesets_are_not_paired_across_frames():
    # A stale frameset (c2, d1) arriving before (c2, d2) must not pair c2 with d1 (33 ms apart).
    sync = StreamSynchronizer(0.5 * T)
    pairs = feed(sync, [("color", 1, 0.0), ("depth", 1, 0.0), ("color", 2, T), ("depth", 1, 0.0), ("depth", 2, T)])
    assert pairs == [(1, 1), (2, 2)]
    assert sync.stats.duplicates == 1


def test_stream_out_of_order_frames_are_dropped_and_counted():
    sync = StreamSynchronizer(0.5 * T)
    pairs = feed(sync, [("color", 1, 1.0), ("color", 2, 0.9), ("depth", 1, 1.0), ("color", 3, 1.0 + T),
                        ("depth", 3, 1.0 + T)])
    assert pairs == [(1, 1), (3, 3)]
    assert (sync.stats.out_of_order, sync.stats.duplicates) == (1, 0)


def test_stream_result_does_not_depend_on_arrival_interleaving():
    # Both streams in capture order, but interleaved differently (librealsense dispatches each sensor on
    # its own thread): same pairs, same statistics.
    rng = np.random.default_rng(2)
    color = [("color", i, i * T + rng.uniform(-0.003, 0.003)) for i in range(12) if i != 5]
    depth = [("depth", i, i * T + 0.004) for i in range(12) if i not in (2, 9)]
    results = set()
    for seed in range(20):
        order = np.random.default_rng(seed).permutation([0] * len(color) + [1] * len(depth))
        streams = [iter(color), iter(depth)]
        sync = StreamSynchronizer(0.5 * T)
        pairs = feed(sync, [next(streams[k]) for k in order])
        sync.finish()
        results.add((tuple(pairs), tuple(sync.stats.to_dict().items())))
    assert len(results) == 1
    pairs, stats = results.pop()
    assert pairs == tuple((i, i) for i in range(12) if i not in (2, 5, 9))
    assert dict(stats)["unmatched_color"] == 2 and dict(stats)["unmatched_depth"] == 1


def test_stream_a_silent_stream_cannot_pile_up_frames():
    sync = StreamSynchronizer(0.5 * T, max_pending=4)
    feed(sync, [("color", i, i * T) for i in range(10)])
    assert sync.stats.unmatched_color == 6
    assert feed(sync, [("depth", 9, 9 * T)]) == [(9, 9)]  # the newest colour frames are still there
    sync.finish()
    assert sync.stats.unmatched_color == 9


def test_stream_reset_starts_a_new_pass_with_the_same_numbers():
    sync = StreamSynchronizer(0.5 * T)
    first = feed(sync, interleaved(3))
    sync.reset()
    second = feed(sync, interleaved(3))
    assert first == second == [(1, 1), (2, 2), (3, 3)]
    assert (sync.stats.matched, sync.stats.duplicates) == (6, 0)


def test_stream_rejects_unknown_streams_and_bad_tolerance():
    with pytest.raises(AmfEdgeError, match="max_dt"):
        StreamSynchronizer(0)
    with pytest.raises(ValueError, match="stream"):
        StreamSynchronizer(0.01).push("infrared", 1, 0.0)


def test_stream_and_associate_agree_when_max_dt_is_under_half_a_period():
    rng = np.random.default_rng(3)
    color = [i * T + rng.uniform(-0.004, 0.004) for i in range(40) if i % 7]
    depth = [i * T + 0.003 for i in range(40) if i % 11]
    pairs, stats = associate(color, depth, 0.4 * T)
    sync = StreamSynchronizer(0.4 * T)
    events = sorted(itertools.chain((("color", i, t) for i, t in enumerate(color)),
                                    (("depth", j, t) for j, t in enumerate(depth))), key=lambda e: e[2])
    assert feed(sync, events) == pairs
    sync.finish()
    assert sync.stats.to_dict() == stats.to_dict()
