"""The pipeline's bounded per-frame log (amf_edge.runtime.framelog) and stats:// streaming its rows."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from amf_edge.contract import ModelContract
from amf_edge.labels import LabelSet
from amf_edge.runtime.backends.base import Backend
from amf_edge.runtime.framelog import FrameLog, LatencyHistogram
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.pipeline import COLUMNS, Pipeline
from amf_edge.runtime.sinks import Sink, sink_from_uri
from amf_edge.runtime.sources.base import Source
from amf_edge.sample import RGBDSample

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

H, W = 8, 8


def test_histogram_percentiles_are_within_half_a_percent():
    values = np.random.default_rng(0).lognormal(mean=2.0, sigma=1.0, size=20_000)
    hist = LatencyHistogram()
    for v in values:
        hist.add(float(v))
    for q, got in zip((1, 50, 90, 99, 100), hist.percentiles([1, 50, 90, 99, 100])):
        exact = float(np.percentile(values, q, method="lower"))
        assert got == pytest.approx(exact, rel=0.005), q
    assert hist.max == values.max() and hist.n == len(values)
    with pytest.raises(ValueError):
        LatencyHistogram().percentiles([50])


def test_frame_log_keeps_the_last_frames_in_order_and_the_whole_run_in_sums():
    log = FrameLog(("index", "latency_ms"), keep=300)
    for i in range(1000):
        log.append((i, i % 7))
    recent = log.recent()
    assert recent["index"].tolist() == list(range(700, 1000)) and not log.complete
    assert log.count == 1000 and log.mean("latency_ms") == pytest.approx(np.mean([i % 7 for i in range(1000)]))
    assert log._ring.nbytes == 300 * 2 * 8  # grew by doubling, never past `keep`
    short = FrameLog(("index", "latency_ms"), keep=300)
    for i in range(5):
        short.append((i, 1.0))
    assert short.complete and short.recent()["index"].tolist() == [0, 1, 2, 3, 4] and short._ring.shape[0] == 256


class _Source(Source):
    def __init__(self, n):
        super().__init__(f"fake://?n={n}")
        self.n, self.live = n, False

    def __iter__(self):
        for i in range(self.n):
            yield Frame(RGBDSample(np.zeros((H, W, 3), np.uint8), np.zeros((H, W), np.uint16), 0.001), i, i / 30,
                        time.perf_counter())


class _Backend(Backend):
    name = "fake"

    def __init__(self):
        super().__init__(ModelContract(height=H, width=W, channel_order="RGB", outputs=("labels",),
                                       labels=LabelSet.generic(3)))
        self.rng = np.random.default_rng(0)

    def submit(self, inputs):
        # latencies spread over a range, so that the histogram's percentiles have something to estimate
        time.sleep(float(self.rng.uniform(0, 0.002)))

    def collect(self):
        return {"labels": np.zeros((1, H, W), np.uint8)}


class _Keep(Sink):
    scheme = "keep"

    def __init__(self):
        super().__init__("keep://")
        self.report = None

    def write(self, result):
        self.written += 1

    def close(self, report=None):
        self.report = report


def test_a_run_longer_than_the_log_keeps_its_last_frames_and_streams_every_row_to_stats(tmp_path):
    path = tmp_path / "stats.json"
    keep, stats = _Keep(), sink_from_uri(f"stats://{path}")
    summary = Pipeline(_Source(120), _Backend(), [stats, keep], frame_log=16, echo=False).run()
    assert keep.report.frames["index"] == list(range(104, 120))  # the last 16, oldest first
    document = json.loads(path.read_text())
    rows = document["frames"]
    assert [r["index"] for r in rows] == list(range(120)) and list(rows[0]) == list(COLUMNS)
    assert document["summary"]["frames_out"] == 120 and [p.name for p in tmp_path.iterdir()] == ["stats.json"]
    # the whole run's numbers, not the kept frames': percentiles from the histogram, means from the sums
    latency = np.array([r["latency_ms"] for r in rows])
    assert summary["latency_basis"].startswith("histogram of all 120 frames")
    for q in (50, 90, 99):
        assert summary["latency_ms"][f"p{q}"] == pytest.approx(np.percentile(latency, q, method="lower"),
                                                               rel=0.006, abs=0.01)
    assert summary["latency_ms"]["max"] == pytest.approx(latency.max(), abs=0.01)
    assert summary["stages_ms"]["inference"] == pytest.approx(np.mean([r["inference_ms"] for r in rows]), abs=0.01)
    assert summary["latency_last_16_ms"]["max"] == pytest.approx(latency[-16:].max(), abs=0.01)


def test_a_run_within_the_log_has_exact_percentiles(tmp_path):
    keep = _Keep()
    summary = Pipeline(_Source(20), _Backend(), [keep], echo=False).run()
    latency = np.array(keep.report.frames["latency_ms"])
    assert summary["latency_basis"] == "exact" and keep.report.frames["index"] == list(range(20))
    assert summary["latency_ms"]["p90"] == pytest.approx(np.percentile(latency, 90), abs=0.01)
