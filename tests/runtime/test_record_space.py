"""`amf-edge record` and a full or read-only disk: librealsense writes the .db3 on its own threads and says
nothing when a write fails (a full tmpfs kept 8 of 200 recorded frames, and the recorder counted 200), so the
Recorder stops while there is still room to close the file, and checks the folder before it starts."""

from __future__ import annotations

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError

rs = pytest.importorskip("pyrealsense2")
pytest.importorskip("rosbags")

from rsbag import BagFrame, SoftwareCamera  # noqa: E402
from tmpfs import tmpfs  # noqa: E402

from amf_edge.runtime import record  # noqa: E402
from amf_edge.runtime.record import Recorder, check_recording_path  # noqa: E402
from amf_edge.runtime.sources import open_source  # noqa: E402

H, W = 240, 320


def test_a_filling_disk_stops_the_recording_and_keeps_a_complete_file(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "MIN_FREE_BYTES", 1 << 20)
    cam = SoftwareCamera(H, W, depth_unit=0.001)
    rng = np.random.default_rng(0)  # noise: PNG cannot shrink it, so a few frames fill the disk
    with tmpfs(tmp_path / "disk", "3m") as disk:
        path = disk / "r.db3"
        with pytest.raises(AmfEdgeError, match=r"r.db3 is nearly full \(\d+ kB left\): the recording stopped after "
                                               r"\d+ frames and is complete up to there; free space"):
            with Recorder(cam.device, path, width=W, height=H, fps=30, what="software camera") as rec:
                for i in range(200):
                    t = 1 + i / 30
                    cam.push(BagFrame(i + 1, t, rng.integers(0, 60000, (H, W), dtype=np.uint16)), "depth")
                    cam.push(BagFrame(i + 1, t, rng.integers(0, 256, (H, W, 3), dtype=np.uint8)), "color")
                    rec.wait(frames=i + 1, seconds=10, poll_s=0.01)
        with open_source(f"bag://{path}") as source:
            assert 0 < sum(1 for _ in source) == rec.frames < 200  # every frame it counted is in the file


def test_a_read_only_or_full_folder_is_refused_before_recording(tmp_path):
    with tmpfs(tmp_path / "ro", "64k", read_only=True) as disk:
        with pytest.raises(AmfEdgeError, match="cannot record .*Read-only file system.*write to a writable folder"):
            check_recording_path(disk / "r.db3")
    with tmpfs(tmp_path / "small", "1m") as disk:
        with pytest.raises(AmfEdgeError, match=r"only \d+ kB free in .*a recording stops below 16 MB; free space"):
            check_recording_path(disk / "r.db3")
