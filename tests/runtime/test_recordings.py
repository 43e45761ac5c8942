"""Damaged recordings (issue 14): a .bag/.db3 cut off at 10–99 % plays the frames before the damage and then
says what was lost (lossless) or counts it (realtime); a recording without depth is one clear error; a source
that fails late does not take the good frames queued before it down with it; drops in the reader are in the
summary. Real librealsense playback (pyrealsense2) of files written by tests/rsbag.py and recorded with it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from amf_edge.contract import ModelContract
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.runtime.backends.base import Backend
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.pipeline import Pipeline, format_summary
from amf_edge.runtime.salvage import NotSalvageable, salvage
from amf_edge.runtime.sinks import Sink
from amf_edge.runtime.sources import open_source
from amf_edge.runtime.sources.base import Source
from amf_edge.sample import RGBDSample

ROOT = Path(__file__).resolve().parents[2]
H, W = 48, 64


@pytest.fixture(scope="module")
def rsbag():
    pytest.importorskip("pyrealsense2")
    pytest.importorskip("rosbags")
    import rsbag

    return rsbag


def truncated(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    cut = path.with_name(f"{path.stem}-{round(100 * fraction)}{path.suffix}")
    cut.write_bytes(data[: int(len(data) * fraction)])
    return cut


def play_until_error(uri: str) -> tuple[list[int], AmfEdgeError | None, dict]:
    indices, error = [], None
    with open_source(uri) as source:
        try:
            for frame in source:
                indices.append(frame.index)
        except AmfEdgeError as e:
            error = e
        stats = source.stats()
    return indices, error, stats


@pytest.fixture(scope="module")
def bag30(rsbag, tmp_path_factory):
    color, depth = rsbag.pattern_pairs(30, H, W)
    return rsbag.write_rs_bag(tmp_path_factory.mktemp("bag") / "thirty.bag", color, depth)


def test_a_cut_off_bag_plays_the_frames_before_the_damage_then_says_what_was_lost(bag30):
    played = {}
    for fraction in (0.1, 0.3, 0.5, 0.9, 0.99):
        indices, error, stats = play_until_error(f"bag://{truncated(bag30, fraction)}")
        assert indices == list(range(1, len(indices) + 1)) and indices, fraction  # in order, from the first
        assert error is not None and f"played the {len(indices)} frames before the damage" in str(error)
        assert "is damaged or cut off at byte" in str(error) and "realtime=1" in str(error)
        assert stats["damaged"]["messages_recovered"] > 0
        played[fraction] = len(indices)
    # each frame is 1/30 of the file: nearly every whole frame before the cut comes back
    assert [played[f] for f in (0.1, 0.3, 0.5, 0.9, 0.99)] == sorted(played.values())
    assert played[0.5] >= 13 and played[0.99] == 30, played


def test_a_cut_off_db3_plays_the_frames_before_the_damage(rsbag, tmp_path):
    path = rsbag.record_db3(tmp_path / "rec.db3", 20, H, W, every_s=0.02)
    counts = []
    for fraction in (0.5, 0.9, 0.99):
        indices, error, _ = play_until_error(f"bag://{truncated(path, fraction)}")
        assert indices == list(range(1, len(indices) + 1)) and indices, fraction
        assert error is not None and "is cut off:" in str(error) and "bytes its header promises" in str(error)
        counts.append(len(indices))
    assert counts == sorted(counts) and counts[-1] >= 15, counts
    with pytest.raises(AmfEdgeError, match=r"librealsense cannot play .*rec-10.db3 .*and no frame can be recovered"):
        open_source(f"bag://{truncated(path, 0.1)}")  # one page: not even the list of topics is left


def test_realtime_playback_of_a_cut_off_bag_counts_the_damage_instead_of_failing(bag30):
    indices, error, stats = play_until_error(f"bag://{truncated(bag30, 0.5)}?realtime=1")
    assert error is None and indices and "damaged or cut off" in stats["damaged"]["what"]
    with open_source(f"bag://{truncated(bag30, 0.5)}?realtime=1") as source:
        summary = Pipeline(source, _Backend(), [], echo=False).run()
    assert summary["stopped_by"] == "end" and summary["source"]["damaged"]["messages_recovered"] > 0
    assert "warning: the recording is damaged or cut off at byte" in format_summary(summary)


def test_a_damaged_record_inside_a_bag_is_not_a_silent_end(bag30, tmp_path):
    # librealsense stops playing at a record it cannot parse, prints why and reports the end of the file: the
    # frames after it used to be lost without an error (17 of 30 frames, exit 0)
    import re

    data = bytearray(bag30.read_bytes())
    messages = [m.start() for m in re.finditer(rb"op=\x02", bytes(data))]  # message records' first field
    at = messages[int(len(messages) * 0.6)] - 8  # its record's header length, before the field's own length
    data[at:at + 4] = (10**6).to_bytes(4, "little")
    broken = tmp_path / "broken.bag"
    broken.write_bytes(bytes(data))
    indices, error, _ = play_until_error(f"bag://{broken}")
    assert 10 <= len(indices) < 30 and indices == list(range(1, len(indices) + 1))
    assert error is not None and "is cut short by a damaged record: librealsense stopped playing it at" in str(error)
    assert f"the {len(indices)} frames before it were played, the rest is lost" in str(error)
    indices, error, stats = play_until_error(f"bag://{broken}?realtime=1")
    assert error is None and stats["damaged"]["what"].startswith("cut short by a damaged record")


def test_salvage_refuses_what_it_cannot_read(tmp_path):
    junk = tmp_path / "junk.bag"
    junk.write_bytes(b"#ROSBAG V2.0\n" + b"\x00" * 100)
    with pytest.raises(NotSalvageable, match="bag header is cut off or broken"):
        salvage(junk, tmp_path / "out.bag")
    junk.write_bytes(b"neither")
    with pytest.raises(NotSalvageable, match="neither as a ROS1 bag"):
        salvage(junk, tmp_path / "out.bag")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.bag"]


def test_a_recording_without_depth_is_one_clear_error(rsbag, tmp_path):
    color, _ = rsbag.pattern_pairs(3, H, W)
    path = rsbag.write_rs_bag(tmp_path / "colour-only.bag", color, [])
    with pytest.raises(AmfEdgeError, match=r"cannot list the streams of recording .*colour-only.bag \(map::at\): it "
                                           r"lacks the depth stream \(z16\) or the colour stream"):
        open_source(f"bag://{path}")


# -- through the pipeline and the command line ------------------------------------------------------------

class _Backend(Backend):
    name = "fake"

    def __init__(self, delay: float = 0.0):
        super().__init__(ModelContract(height=H, width=W, channel_order="RGB", outputs=("labels",),
                                       labels=LabelSet.generic(3)))
        self.delay = delay

    def submit(self, inputs):
        time.sleep(self.delay)

    def collect(self):
        return {"labels": np.zeros((1, H, W), np.uint8)}


class _Keep(Sink):
    scheme = "keep"

    def __init__(self, delay: float = 0.0):
        super().__init__("keep://")
        self.delay, self.indices = delay, []

    def write(self, result):
        time.sleep(self.delay)
        self.indices.append(result.frame.index)
        self.written += 1


class _Failing(Source):
    """12 good frames, then a corrupt one: the source raises."""

    def __init__(self):
        super().__init__("failing://")
        self.live = False

    def __iter__(self):
        for i in range(12):
            yield Frame(RGBDSample(np.zeros((H, W, 3), np.uint8), np.zeros((H, W), np.uint16), 0.001), i, i / 30,
                        time.perf_counter())
        raise AmfEdgeError("frame 12 is corrupt")


def test_a_failing_source_keeps_the_frames_queued_before_it():
    keep = _Keep(delay=0.01)  # a slow sink: the queues are full when the source fails
    pipeline = Pipeline(_Failing(), _Backend(), [keep], echo=False)
    with pytest.raises(AmfEdgeError, match="frame 12 is corrupt"):
        pipeline.run()
    s = pipeline.summary
    assert keep.indices == list(range(12)) and s["frames_out"] == 12 and s["dropped_total"] == 0
    assert s["stopped_by"] == "error" and "frame 12 is corrupt" in s["error"]


def test_frames_the_reader_drops_are_counted_in_the_summary(rsbag, tmp_path):
    color, depth = rsbag.pattern_pairs(45, H, W)  # 1.5 s at 30 fps
    path = rsbag.write_rs_bag(tmp_path / "realtime.bag", color, depth)
    with open_source(f"bag://{path}?realtime=1") as source:
        # lossless pipeline, real-time player: the player does not wait, so the reader drops what the slow
        # backend cannot take, and the summary must say so
        summary = Pipeline(source, _Backend(delay=0.15), [], policy="lossless", echo=False).run()
        reader = source.stats()["dropped"]
    assert reader > 0 and summary["dropped"]["source"] == reader
    assert summary["dropped_total"] == sum(summary["dropped"].values()) >= reader
    assert f"in the source's reader {reader})" in format_summary(summary)


def test_run_on_a_cut_off_bag_writes_the_frames_before_the_damage_and_exits_1(bag30, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from amf_edge.testing import toy_model

    model = toy_model(tmp_path / "toy.onnx", H, W)
    stats = tmp_path / "stats.json"
    result = subprocess.run([sys.executable, "-m", "amf_edge.cli.main", "run", str(model), "--source",
                             f"bag://{truncated(bag30, 0.5)}", "--sink", f"stats://{stats}"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    import json

    summary = json.loads(stats.read_text())["summary"]
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and f"played the {summary['frames_out']} frames before the damage" in errors[0]
    assert summary["frames_out"] >= 13 and summary["dropped_total"] == 0 and summary["source"]["damaged"]
