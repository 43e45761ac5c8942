"""`rosbag://`: ROS 1 (.bag) and ROS 2 (.db3, .mcap) recordings with realsense-ros topics, written with rosbags
(tests/rosbag_data.py), read through the source: pairing by header stamp, pixels, depth units, intrinsics, and
one clear error for each bad recording."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from rosbag_data import FRAME_ID, write_camera_bag

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.sources import open_source

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too
pytest.importorskip("rosbags")
FORMATS = (".bag", ".db3", ".mcap")
PAIRED = [0, 1, 2, 4, 5]  # write_camera_bag's colour frame 3 has no depth partner


def read_all(uri: str) -> tuple[list, dict]:
    with open_source(uri) as source:
        frames = list(source)
        return frames, source.stats()


@pytest.mark.parametrize("suffix", FORMATS)
def test_realsense_ros_topics_are_read_and_paired_by_stamp(tmp_path, suffix, caplog):
    bag = write_camera_bag(tmp_path / f"robot{suffix}")
    frames, stats = read_all(f"rosbag://{bag.path}")
    assert "1 colour and 0 depth frame(s) found no partner within max_dt=0.01" in caplog.text
    assert [f.index for f in frames] == PAIRED
    assert [f.stamp_ns for f in frames] == [bag.color_stamps_ns[i] for i in PAIRED]
    assert [f.timestamp_s for f in frames] == pytest.approx([bag.color_stamps_ns[i] / 1e9 for i in PAIRED], abs=1e-6)
    depth_by_stamp = dict(zip(bag.depth_stamps_ns, bag.depth_mm))
    for f in frames:
        i = f.index
        np.testing.assert_array_equal(f.sample.rgb, bag.rgb[i])
        np.testing.assert_array_equal(f.sample.depth, depth_by_stamp[bag.color_stamps_ns[i] + 4_000_000])
        assert f.sample.depth_unit == 0.001 and f.sample.depth_m()[5, 5] == pytest.approx((1000 + i) / 1000)
        assert (f.sample.intrinsics.fx, f.sample.intrinsics.fy, f.sample.intrinsics.cx,
                f.sample.intrinsics.cy) == bag.intrinsics
        assert f.frame_id == FRAME_ID
    assert stats["matched"] == 5 and stats["unmatched_color"] == 1 and stats["unmatched_depth"] == 0
    assert stats["max_skew_s"] == pytest.approx(0.004, abs=1e-5) and stats["frames"] == 5
    assert (stats["color_topic"], stats["depth_topic"], stats["info_topic"]) == (
        bag.color_topic, bag.depth_topic, bag.info_topic)
    assert stats["max_dt_s"] == pytest.approx(1 / 60, rel=0.1)  # half the colour interval, read off the bag


@pytest.mark.parametrize("compression", ["bz2", "lz4"])
def test_compressed_ros1_chunks(tmp_path, compression):
    bag = write_camera_bag(tmp_path / f"{compression}.bag", compression=compression)
    frames, _ = read_all(f"rosbag://{bag.path}")
    assert [f.index for f in frames] == PAIRED
    np.testing.assert_array_equal(frames[-1].sample.rgb, bag.rgb[5])


def test_a_rosbag2_storage_file_reads_like_its_folder(tmp_path):
    bag = write_camera_bag(tmp_path / "run.db3")
    frames, _ = read_all(f"rosbag://{bag.path / 'run.db3'}")
    assert [f.index for f in frames] == PAIRED


def test_a_db3_without_message_definitions_as_humble_records_it(tmp_path):
    """ROS 2 Humble and older store no message definitions in .db3: the source falls back to Humble's types."""
    import sqlite3

    bag = write_camera_bag(tmp_path / "humble.db3")
    with sqlite3.connect(bag.path / "humble.db3") as db:
        db.execute("DROP TABLE message_definitions")
        db.execute("UPDATE schema SET schema_version = 3")
    db.close()
    frames, _ = read_all(f"rosbag://{bag.path}")
    assert [f.index for f in frames] == PAIRED and frames[0].sample.intrinsics is not None


def test_ros1_realsense_names_on_ros2_and_the_other_way_round(tmp_path):
    """Both wrapper generations' names are defaults, whatever the bag format."""
    bag = write_camera_bag(tmp_path / "old.mcap", prefix="/camera", n=3, color_without_depth=())
    assert [f.index for f in read_all(f"rosbag://{bag.path}")[0]] == [0, 1, 2]
    bag = write_camera_bag(tmp_path / "new.bag", prefix="/camera/camera", n=3, color_without_depth=())
    assert [f.index for f in read_all(f"rosbag://{bag.path}")[0]] == [0, 1, 2]


@pytest.mark.parametrize("encoding", ["bgr8", "rgba8", "mono8"])
def test_colour_encodings_become_rgb(tmp_path, encoding):
    bag = write_camera_bag(tmp_path / f"{encoding}.db3", color_encoding=encoding, n=2, color_without_depth=())
    frames, _ = read_all(f"rosbag://{bag.path}")
    expected = bag.rgb[1] if encoding != "mono8" else np.repeat(bag.rgb[1][:, :, 1:2], 3, axis=2)
    np.testing.assert_array_equal(frames[1].sample.rgb, expected)


def test_compressed_colour_is_decoded(tmp_path):
    pytest.importorskip("cv2")
    bag = write_camera_bag(tmp_path / "c.bag", compressed_color=True, n=3, color_without_depth=())
    frames, stats = read_all(f"rosbag://{bag.path}")
    assert stats["color_topic"] == "/camera/color/image_raw/compressed"
    assert stats["info_topic"] == "/camera/color/camera_info" and frames[0].sample.intrinsics is not None
    np.testing.assert_array_equal(frames[2].sample.rgb, bag.rgb[2])


def test_float_metres_depth_becomes_millimetre_counts(tmp_path):
    bag = write_camera_bag(tmp_path / "f.mcap", depth_encoding="32FC1", n=2, color_without_depth=())
    frames, _ = read_all(f"rosbag://{bag.path}")
    np.testing.assert_array_equal(frames[1].sample.depth, bag.depth_mm[1])
    assert frames[1].sample.depth_unit == 0.001


def test_depth_unit_option_scales_counts(tmp_path):
    bag = write_camera_bag(tmp_path / "u.db3", n=1, color_without_depth=())
    frames, _ = read_all(f"rosbag://{bag.path}?depth_unit=0.0001")
    assert frames[0].sample.depth_unit == 0.0001 and frames[0].sample.depth[5, 5] == 1000


def test_topics_by_option_and_resizing(tmp_path):
    bag = write_camera_bag(tmp_path / "robot.bag", prefix="/front", n=2, color_without_depth=())
    with pytest.raises(AmfEdgeError, match=r"none of realsense-ros's colour topics .* /front/color/image_raw"):
        open_source(f"rosbag://{bag.path}")
    frames, stats = read_all(f"rosbag://{bag.path}?color=/front/color/image_raw"
                             "&depth=/front/aligned_depth_to_color/image_raw&width=20&height=16")
    assert frames[0].sample.rgb.shape == (16, 20, 3) and frames[0].sample.depth.shape == (16, 20)
    assert frames[0].sample.intrinsics.fx == pytest.approx(bag.intrinsics[0] / 2)
    assert stats["info_topic"] == "/front/color/camera_info"


def test_loop_keeps_timestamps_growing(tmp_path):
    bag = write_camera_bag(tmp_path / "l.mcap", n=3, color_without_depth=())
    with open_source(f"rosbag://{bag.path}?loop=1") as source:
        stream = iter(source)
        frames = [next(stream) for _ in range(7)]
    times = [f.timestamp_s for f in frames]
    assert [f.index for f in frames] == list(range(7)) and all(b > a for a, b in zip(times, times[1:]))


def test_without_camera_info_frames_have_no_intrinsics(tmp_path):
    bag = write_camera_bag(tmp_path / "n.db3", n=2, with_info=False, color_without_depth=())
    frames, stats = read_all(f"rosbag://{bag.path}")
    assert frames[0].sample.intrinsics is None and stats["info_topic"] is None


# -- bad recordings: one clear error each ----------------------------------------------------------------------


def test_no_depth_topic(tmp_path):
    bag = write_camera_bag(tmp_path / "nodepth.bag", with_depth=False)
    with pytest.raises(AmfEdgeError, match=r"no depth registered to colour .*align_depth.enable:=true.*"
                                           r"image topics in the bag: /camera/color/image_raw\. .*\?color="):
        open_source(f"rosbag://{bag.path}")


def test_depth_of_another_size(tmp_path):
    bag = write_camera_bag(tmp_path / "raw.mcap", depth_size=(24, 30),
                           depth_topic="/camera/camera/depth/image_rect_raw")
    with pytest.raises(AmfEdgeError, match="no depth registered to colour"):
        open_source(f"rosbag://{bag.path}")
    with open_source(f"rosbag://{bag.path}?depth=/camera/camera/depth/image_rect_raw") as source:
        with pytest.raises(AmfEdgeError, match=r"is 40×32 but depth /camera/camera/depth/image_rect_raw is 30×24 "
                                               r".*aligned_depth_to_color"):
            next(iter(source))


def test_wrong_encodings(tmp_path):
    bag = write_camera_bag(tmp_path / "enc.db3", color_encoding="yuv422", n=2, color_without_depth=())
    with open_source(f"rosbag://{bag.path}") as source, pytest.raises(
            AmfEdgeError, match=r"colour encoding 'yuv422' is not supported; expected one of rgb8, bgr8"):
        next(iter(source))
    bag = write_camera_bag(tmp_path / "swap.bag", n=2, color_without_depth=())
    swapped = f"rosbag://{bag.path}?color={bag.depth_topic}&depth={bag.color_topic}"
    with open_source(swapped) as source, pytest.raises(AmfEdgeError, match="colour encoding '16UC1' is not supported"):
        next(iter(source))
    with pytest.raises(AmfEdgeError, match=r"\?depth=/camera/color/camera_info carries sensor_msgs/msg/CameraInfo"):
        open_source(f"rosbag://{bag.path}?depth={bag.info_topic}")


def test_compressed_depth_is_refused(tmp_path):
    pytest.importorskip("cv2")
    bag = write_camera_bag(tmp_path / "cd.mcap", compressed_color=True, n=1, color_without_depth=())
    uri = f"rosbag://{bag.path}?color={bag.depth_topic}&depth={bag.color_topic}"
    with pytest.raises(AmfEdgeError, match="depth must be a sensor_msgs/Image .* is a sensor_msgs/msg/CompressedImage"):
        open_source(uri)


@pytest.mark.parametrize("suffix, message", [
    (".bag", r"cannot read .*truncated\.bag as a ROS bag .*rosbag reindex"),
    (".mcap", r"cannot read .*truncated\.mcap as a ROS bag .*mcap recover"),
])
def test_truncated_bag_at_open(tmp_path, suffix, message):
    bag = write_camera_bag(tmp_path / f"whole{suffix}")
    whole = bag.path if suffix == ".bag" else bag.path / f"whole{suffix}"
    cut = tmp_path / f"truncated{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    with pytest.raises(AmfEdgeError, match=message):
        open_source(f"rosbag://{cut}")


def test_truncated_db3_fails_where_the_damage_is(tmp_path):
    """sqlite opens a cut database; the damage shows when the pages are read: an error, never a short stream."""
    bag = write_camera_bag(tmp_path / "whole.db3", n=10, color_without_depth=())
    db3 = bag.path / "whole.db3"
    cut = tmp_path / "cut.db3"
    cut.write_bytes(db3.read_bytes()[: db3.stat().st_size * 9 // 10])
    with pytest.raises(AmfEdgeError, match=r"(cut\.db3 is damaged after \d+ message|cannot read .*cut\.db3)"):
        with open_source(f"rosbag://{cut}") as source:
            list(source)


def test_damage_inside_a_bag_stops_the_stream_where_it_is(tmp_path):
    """Bytes overwritten inside the second chunk of a ROS 1 bag (a bad sector): the frames before it come, then
    one clear error; never a short stream that looks complete."""
    bag = write_camera_bag(tmp_path / "whole.bag", n=10, color_without_depth=())
    data = bytearray(bag.path.read_bytes())
    start = len(data) * 3 // 10
    data[start:start + 300] = b"\xff" * 300
    damaged = tmp_path / "damaged.bag"
    damaged.write_bytes(bytes(data))
    frames = []
    with open_source(f"rosbag://{damaged}") as source, pytest.raises(
            AmfEdgeError, match=r"damaged\.bag is damaged after \d+ readable message\(s\) of .*rosbag reindex"):
        for frame in source:
            frames.append(frame.index)
    assert 0 < len(frames) < 10 and frames == list(range(len(frames)))


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.bag", "does not exist; expected a ROS 1 .bag"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "has no metadata.yaml; name the .db3 or .mcap file"),
    (lambda p: (p / "x.mp4").write_bytes(b"x") and p / "x.mp4", "x.mp4 is not a .bag, .db3 or .mcap file"),
    (lambda p: (p / "zero.bag").write_bytes(b"") or p / "zero.bag", "cannot read .*zero.bag as a ROS bag"),
    (lambda p: (p / "r.bag.active").write_bytes(b"x") and p / "r.bag.active", "never finished; run `rosbag reindex`"),
])
def test_bad_paths(tmp_path, make, message):
    with pytest.raises(AmfEdgeError, match=message):
        open_source(f"rosbag://{make(tmp_path)}")


def test_bad_options(tmp_path):
    bag = write_camera_bag(tmp_path / "o.bag", n=1)
    with pytest.raises(AmfEdgeError, match=r"option 'color' must be a ROS topic name starting with '/'"):
        open_source(f"rosbag://{bag.path}?color=camera/color")
    with pytest.raises(AmfEdgeError, match=r"\?info=/nope is not a topic of this bag; .* /camera/color/camera_info"):
        open_source(f"rosbag://{bag.path}?info=/nope")
    with pytest.raises(AmfEdgeError, match="colour and depth are both"):
        open_source(f"rosbag://{bag.path}?depth={bag.color_topic}")



# -- message conversion (amf_edge.runtime.ros) ---------------------------------------------------------------


def test_row_padding_and_big_endian_depth():
    from types import SimpleNamespace

    from amf_edge.runtime import ros

    counts = np.array([[1, 2, 3], [256, 1000, 65535]], np.uint16)
    rows = np.zeros((2, 8), np.uint8)  # 6 bytes of pixels and 2 of padding per row
    rows[:, :6] = counts.astype(">u2").view(np.uint8)
    msg = SimpleNamespace(height=2, width=3, step=8, encoding="16UC1", is_bigendian=1, data=rows.reshape(-1))
    np.testing.assert_array_equal(ros.depth_image(msg, ros.IMAGE, "/d", 0.001), counts)
    msg.data = msg.data[:-3]
    with pytest.raises(AmfEdgeError, match="needs 16 bytes of data, the message has 13"):
        ros.depth_image(msg, ros.IMAGE, "/d", 0.001)


def test_float_depth_beyond_uint16_or_invalid_is_no_measurement():
    from types import SimpleNamespace

    from amf_edge.runtime import ros

    metres = np.array([[1.5, np.nan, -1.0, 70.0]], np.float32)
    msg = SimpleNamespace(height=1, width=4, step=16, encoding="32FC1", is_bigendian=0, data=metres.view(np.uint8))
    np.testing.assert_array_equal(ros.depth_image(msg, ros.IMAGE, "/d", 0.001), [[1500, 0, 0, 0]])


def test_without_rosbags_the_error_names_the_extra(tmp_path, monkeypatch):
    bag = write_camera_bag(tmp_path / "x.bag", n=1)
    for name in ("rosbags", "rosbags.highlevel", "rosbags.typesys", "rosbags.rosbag1", "rosbags.rosbag2"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it fails as where it is not installed
    with pytest.raises(AmfEdgeError, match=r'pip install "amf-edge\[ros\]"'):
        open_source(f"rosbag://{bag.path}")
