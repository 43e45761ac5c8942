"""`amf-edge record` and its Recorder, driven by a software RealSense camera, read back through bag://."""

from __future__ import annotations

import _thread
import threading
import time

import numpy as np
import pytest

from amf_edge.cli.main import main
from amf_edge.errors import AmfEdgeError

rs = pytest.importorskip("pyrealsense2")
pytest.importorskip("rosbags")

from rsbag import BagFrame, SoftwareCamera, pattern_pairs  # noqa: E402

from amf_edge.runtime.record import Recorder, check_recording_path  # noqa: E402
from amf_edge.runtime.sources import open_source  # noqa: E402

H, W = 48, 64


def push_pairs(cam, color, depth):
    for c, d in zip(color, depth):
        cam.push(d, "depth")
        cam.push(c, "color")


def ramp_pairs(n):
    """Depth that grows along x (1000 + 4·x + i) so that a misplaced pixel shows; colour from pattern_pairs."""
    color, _ = pattern_pairs(n, H, W)
    x = np.arange(W, dtype=np.uint16)
    depth = [BagFrame(c.number, c.timestamp_s, np.broadcast_to(1000 + 4 * x + c.number, (H, W)).astype(np.uint16))
             for c in color]
    return color, depth


def read_back(path):
    with open_source(f"bag://{path}") as source:
        return list(source), source.stats()


def test_recording_replays_every_frame_with_numbers_times_depth_and_intrinsics(tmp_path):
    cam = SoftwareCamera(H, W, depth_unit=0.001)
    color, depth = ramp_pairs(6)
    path = tmp_path / "desk.db3"
    with Recorder(cam.device, path, width=W, height=H, fps=30, what="software camera") as rec:
        push_pairs(cam, color, depth)
        rec.wait(frames=6, seconds=10)  # the seconds are a safety net: the frames come first
    assert rec.frames == 6 and rec.counts == {"depth": 6, "color": 6}

    frames, stats = read_back(path)
    assert [f.index for f in frames] == [1, 2, 3, 4, 5, 6]
    assert [f.timestamp_s for f in frames] == pytest.approx([c.timestamp_s for c in color], abs=1e-6)
    assert (stats["matched"], stats["unmatched_color"], stats["unmatched_depth"]) == (6, 0, 0)
    for frame, c, d in zip(frames, color, depth):
        s = frame.sample
        assert s.depth_unit == 0.001
        np.testing.assert_array_equal(s.rgb, c.image)  # librealsense's PNG compression is lossless
        # Alignment reprojects every depth pixel into the colour camera (here: the same camera). Rounding
        # leaves a few holes (0), and a pixel may land one column off (one ramp step of 4 counts).
        holes = s.depth == 0
        assert holes.mean() < 0.05, frame.index
        assert np.abs(s.depth[~holes].astype(int) - d.image[~holes]).max() <= 4, frame.index
        assert s.depth[H // 2, W // 2] == d.image[H // 2, W // 2]
        k = s.intrinsics
        assert (k.fx, k.fy, k.cx, k.cy) == pytest.approx(cam.intrinsics, abs=1e-4)


def test_ctrl_c_while_recording_leaves_a_complete_file(tmp_path):
    cam = SoftwareCamera(H, W)
    color, depth = pattern_pairs(4, H, W)
    path = tmp_path / "interrupted.db3"

    def ctrl_c_after_four(rec):
        if rec.frames >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with Recorder(cam.device, path, what="software camera") as rec:
            push_pairs(cam, color, depth)
            rec.wait(progress=ctrl_c_after_four, poll_s=0.02)  # no limit: until Ctrl-C
    frames, _ = read_back(path)
    assert [f.index for f in frames] == [1, 2, 3, 4]
    assert [int(f.sample.depth[5, 5]) for f in frames] == [1001, 1002, 1003, 1004]


def test_a_silent_device_stops_the_recording_with_an_error(tmp_path):
    cam = SoftwareCamera(H, W)
    color, depth = pattern_pairs(2, H, W)
    with pytest.raises(AmfEdgeError,
                       match=r"no frame from software camera for 0\.3 s \(depth 2, colour 2 so far\).*kept in"):
        with Recorder(cam.device, tmp_path / "stall.db3", what="software camera") as rec:
            push_pairs(cam, color, depth)
            rec.wait(frames=10, stall_s=0.3, poll_s=0.02)
    frames, _ = read_back(tmp_path / "stall.db3")
    assert [f.index for f in frames] == [1, 2]


def test_a_mode_the_device_lacks_is_an_error_and_leaves_no_file(tmp_path):
    cam = SoftwareCamera(H, W)
    with pytest.raises(AmfEdgeError, match="offers: color rgb8 64×48@30, depth z16 64×48@30"):
        Recorder(cam.device, tmp_path / "mode.db3", width=640, height=480, fps=30)
    assert not (tmp_path / "mode.db3").exists()


def feed_later(cam, color, depth, then=None):
    """Push the frames from another thread once the command is waiting, then optionally press Ctrl-C."""
    def work():
        time.sleep(0.3)
        push_pairs(cam, color, depth)
        if then is not None:
            time.sleep(0.3)
            then()
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_record_command_records_the_camera_until_the_frame_count(tmp_path, monkeypatch, capsys):
    cam = SoftwareCamera(H, W, serial="123456789012")
    monkeypatch.setattr("amf_edge.runtime.realsense.find_camera",
                        lambda serial: cam.device if serial == "123456789012" else None)
    color, depth = pattern_pairs(5, H, W)
    thread = feed_later(cam, color, depth)
    out = tmp_path / "cli.db3"
    assert main(["record", f"realsense://123456789012?width={W}&height={H}&fps=30", str(out), "--frames", "5"]) == 0
    thread.join()
    err = capsys.readouterr().err
    assert "saved 5 frames" in err and f"bag://{out}" in err
    frames, _ = read_back(out)
    assert [f.index for f in frames] == [1, 2, 3, 4, 5]


def test_record_command_ctrl_c_saves_the_recording(tmp_path, monkeypatch, capsys):
    cam = SoftwareCamera(H, W)
    monkeypatch.setattr("amf_edge.runtime.realsense.find_camera", lambda serial: cam.device)
    color, depth = pattern_pairs(3, H, W)
    thread = feed_later(cam, color, depth, then=_thread.interrupt_main)  # a real KeyboardInterrupt in the main thread
    out = tmp_path / "ctrl-c.db3"
    assert main(["record", f"realsense://?width={W}&height={H}", str(out)]) == 0
    thread.join()
    assert "stopped by Ctrl-C; saved 3 frames" in capsys.readouterr().err
    frames, _ = read_back(out)
    assert [f.index for f in frames] == [1, 2, 3]


@pytest.mark.parametrize("name, message", [
    ("out.bag", "writes only rosbag2 .db3"),
    ("out.mp4", "ending in .db3"),
    ("missing/out.db3", "does not exist"),
])
def test_record_rejects_bad_output_names_before_touching_a_camera(tmp_path, capsys, name, message):
    assert main(["record", "realsense://", str(tmp_path / name)]) == 1
    assert message in capsys.readouterr().err


def test_record_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "x.db3"
    path.write_bytes(b"old")
    with pytest.raises(AmfEdgeError, match="--overwrite"):
        check_recording_path(path)
    assert check_recording_path(path, overwrite=True) == path


def test_record_takes_only_a_camera_uri(tmp_path, capsys):
    assert main(["record", "bag://x.db3", str(tmp_path / "y.db3")]) == 1
    assert "realsense://" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["record", "realsense://", str(tmp_path / "y.db3"), "--frames", "3", "--seconds", "1"])


def test_record_without_a_camera_says_so(tmp_path, capsys):
    if len(rs.context().query_devices()):
        pytest.skip("a RealSense camera is connected")
    assert main(["record", "realsense://", str(tmp_path / "y.db3"), "--seconds", "1"]) == 1
    assert "no RealSense camera is connected" in capsys.readouterr().err


@pytest.mark.camera
def test_record_a_real_camera(tmp_path):
    out = tmp_path / "camera.db3"
    assert main(["record", "realsense://", str(out), "--frames", "30"]) == 0
    frames, stats = read_back(out)
    assert len(frames) >= 25 and stats["matched"] == len(frames)
    assert all(f.sample.size == (480, 640) for f in frames)
