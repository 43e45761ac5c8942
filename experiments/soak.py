"""A long run in bounded memory: the pipeline's resident set size, sampled while it streams many frames.

    python -m experiments.soak [--frames 1000000] [--every 20000] [--stats /tmp/soak-stats.json]
                               [--frame-log N] [--seconds S]

Runs `amf_edge.runtime.pipeline.Pipeline` (lossless, the recordings' policy) on tiny frames from a source that costs
almost nothing (one 8×8 RGB-D sample handed out again and again under new frame numbers) through amf_edge/testing.py's
toy ONNX model (labels = argmax over the colour channels) on ONNX Runtime, so that the run measures the pipeline's own
per-frame bookkeeping. A sink samples the RSS (/proc/self/statm) every `--every` frames; the slope is the least-squares
fit of RSS against frames over the second half of the samples (after the per-frame log's ring has filled and the
allocator has settled), in bytes per frame. `--stats` adds a stats:// sink (rows stream to disk); `--frame-log N` keeps
the last N frames instead of the default (a huge N shows the old, unbounded growth); `--seconds` stops early, whichever
comes first. Prints one JSON line with the result.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from amf_edge.runtime.backends import open_backend
from amf_edge.runtime.framelog import KEEP_FRAMES
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.pipeline import Pipeline
from amf_edge.runtime.sinks import Sink, sink_from_uri
from amf_edge.runtime.sources.base import Source
from amf_edge.sample import RGBDSample
from amf_edge.testing import toy_model

SIZE = 8


class Repeat(Source):
    """One sample, handed out `n` times with new frame numbers: a source that costs nothing."""

    def __init__(self, n: int):
        super().__init__(f"repeat://?n={n}")
        self.n, self.live = n, False
        rgb = np.zeros((SIZE, SIZE, 3), np.uint8)
        rgb[..., 1] = 1
        self.sample = RGBDSample(rgb, np.full((SIZE, SIZE), 1000, np.uint16), 0.001)

    def __iter__(self):
        for i in range(self.n):
            yield Frame(self.sample, i, i / 30, time.perf_counter())


class RssProbe(Sink):
    """Samples the process's resident set size every `every` frames (on the output thread)."""

    scheme = "rss"

    def __init__(self, every: int, deadline: float):
        super().__init__("rss://")
        self.every, self.deadline = every, deadline
        self.samples: list[tuple[int, int, float]] = []  # (frames, rss bytes, seconds)
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = time.perf_counter()

    def write(self, result) -> None:
        self.written += 1
        if self.written % self.every == 0:
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * self.page
            now = time.perf_counter()
            self.samples.append((self.written, rss, round(now - self.start, 2)))
            if now > self.deadline:
                raise StopIteration_()


class StopIteration_(Exception):  # noqa: N801 (a marker, not an error)
    pass


def slope(samples: list[tuple[int, int, float]]) -> float | None:
    """Bytes per frame: the least-squares slope over the second half of the samples."""
    half = samples[len(samples) // 2:]
    if len(half) < 2:
        return None
    frames, rss = np.array([s[0] for s in half], float), np.array([s[1] for s in half], float)
    return float(np.polyfit(frames, rss, 1)[0])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=1_000_000)
    p.add_argument("--every", type=int, default=20_000)
    p.add_argument("--stats", type=Path, default=None, help="also write stats:// to this .json file")
    p.add_argument("--frame-log", type=int, default=KEEP_FRAMES)
    p.add_argument("--seconds", type=float, default=600.0)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        backend = open_backend(toy_model(Path(tmp) / "soak.onnx", SIZE, SIZE), threads=1)
        probe = RssProbe(args.every, time.perf_counter() + args.seconds)
        sinks = [probe, *([sink_from_uri(f"stats://{args.stats}")] if args.stats else [])]
        pipeline = Pipeline(Repeat(args.frames), backend, sinks, echo=False, frame_log=args.frame_log)
        try:
            summary = pipeline.run()
        except StopIteration_:
            summary = pipeline.summary
        backend.close()
    s = probe.samples
    print(json.dumps({
        "frames_out": summary["frames_out"], "wall_s": summary["wall_s"], "fps": summary["fps"],
        "frame_log": args.frame_log, "stats": str(args.stats) if args.stats else None,
        "rss_mb_first": round(s[0][1] / 2**20, 1) if s else None,
        "rss_mb_last": round(s[-1][1] / 2**20, 1) if s else None,
        "slope_bytes_per_frame": round(v, 3) if (v := slope(s)) is not None else None,
        "latency_ms": summary["latency_ms"], "latency_basis": summary["latency_basis"],
        "samples": s}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
