"""`rosbag://` sink: results written as a ROS 2 bag (rosbag2 folder, .mcap or .db3 storage) and read back with
rosbags' AnyReader, as ROS 2 tools read it: topics, types, labels, stamps, frame ids, camera_info, the finished
name only for a finished bag, and what a failed write leaves."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sinks import Result, SinkContext, sink_from_uri
from amf_edge.runtime.sources.rosbag import RosFrame
from amf_edge.sample import Intrinsics, RGBDSample
from amf_edge.synthetic import SYNTHETIC_LABELS

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too
pytest.importorskip("rosbags")
pytest.importorskip("cv2")  # the overlay is drawn with OpenCV
H, W = 24, 32
T0_NS = 1_700_000_000_123_456_789  # more digits than a float of seconds holds


def context() -> SinkContext:
    return SinkContext(labels=SYNTHETIC_LABELS, channel_order="RGB", policy="lossless",
                       backend={"backend": "fake"}, frame_size=(H, W))


def make_result(index: int, *, ros: bool = True) -> Result:
    rgb = np.full((H, W, 3), (20, 40, 60), np.uint8)
    labels = ((np.arange(H * W).reshape(H, W) + index) % SYNTHETIC_LABELS.num_classes).astype(np.uint8)
    sample = RGBDSample(rgb, np.full((H, W), 1500, np.uint16), 0.001, intrinsics=Intrinsics(30.0, 31.0, 15.5, 11.5))
    stamp = T0_NS + index * 33_333_333
    frame = (RosFrame(sample, index, stamp / 1e9, time.perf_counter(), frame_id="front_optical", stamp_ns=stamp)
             if ros else Frame(sample, index, index / 30, time.perf_counter()))
    return Result(frame, {"labels": labels}, {})


def read_bag(path: Path) -> dict[str, list]:
    """topic → [(bag time, message)] through AnyReader, as any rosbags-based or ROS 2 tool reads the folder."""
    from rosbags.highlevel import AnyReader

    out: dict[str, list] = {}
    with AnyReader([path]) as reader:
        for connection, t, raw in reader.messages():
            out.setdefault(connection.topic, []).append((t, connection.msgtype,
                                                         reader.deserialize(raw, connection.msgtype)))
    return out


def write(uri: str, n: int, **kwargs):
    sink = sink_from_uri(uri)
    sink.open(context())
    for i in range(n):
        sink.write(make_result(i, **kwargs))
    sink.close()
    return sink


@pytest.mark.parametrize("name, storage, file", [
    ("out.mcap", "mcap", "out.mcap"), ("out.db3", "sqlite3", "out.db3"), ("out", "sqlite3", "out.db3"),
    ("out?storage=mcap", "mcap", "out.mcap")])
def test_results_become_a_ros2_bag(tmp_path, name, storage, file):
    sink = write(f"rosbag://{tmp_path}/{name}", 3)
    bag = tmp_path / "out"
    assert sorted(p.name for p in bag.iterdir()) == sorted(["metadata.yaml", file])
    assert not (tmp_path / "out.partial").exists()
    assert sink.stats() == {"written": 3, "path": str(bag), "storage": storage,
                            "topics": ["/amf_edge/labels", "/amf_edge/overlay", "/amf_edge/camera_info"]}
    topics = read_bag(bag)
    assert {t: [m[1] for m in msgs][0] for t, msgs in topics.items()} == {
        "/amf_edge/labels": "sensor_msgs/msg/Image", "/amf_edge/overlay": "sensor_msgs/msg/Image",
        "/amf_edge/camera_info": "sensor_msgs/msg/CameraInfo"}
    for i, (t, _, msg) in enumerate(topics["/amf_edge/labels"]):
        expected = make_result(i).labels
        assert msg.encoding == "mono8" and (msg.height, msg.width, msg.step) == (H, W, W)
        np.testing.assert_array_equal(msg.data.reshape(H, W), expected)
        assert t == T0_NS + i * 33_333_333 == msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        assert msg.header.frame_id == "front_optical"
    overlay = topics["/amf_edge/overlay"][0][2]
    assert overlay.encoding == "bgr8" and overlay.data.size == H * W * 3
    info = topics["/amf_edge/camera_info"][0][2]
    assert (info.height, info.width) == (H, W) and list(info.k) == [30, 0, 15.5, 0, 31, 11.5, 0, 0, 1]


def test_classes_are_in_the_metadata(tmp_path):
    yaml = pytest.importorskip("yaml")
    write(f"rosbag://{tmp_path}/c.mcap", 1)
    metadata = yaml.safe_load((tmp_path / "c" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    classes = json.loads(metadata["custom_data"]["amf_edge.classes"])
    assert classes["names"] == list(SYNTHETIC_LABELS.names)


def test_prefix_overlay_and_frame_id_options(tmp_path):
    write(f"rosbag://{tmp_path}/p.db3?prefix=/robot/seg&overlay=0&frame_id=map", 2, ros=False)
    topics = read_bag(tmp_path / "p")
    assert sorted(topics) == ["/robot/seg/camera_info", "/robot/seg/labels"]
    label = topics["/robot/seg/labels"][1]
    assert label[2].header.frame_id == "map" and label[0] == round(1 / 30 * 1e9)


def test_a_plain_frame_gets_realsense_ros_frame_id_and_its_float_time(tmp_path):
    write(f"rosbag://{tmp_path}/f.mcap", 2, ros=False)
    t, _, msg = read_bag(tmp_path / "f")["/amf_edge/labels"][1]
    assert msg.header.frame_id == "camera_color_optical_frame" and t == 33_333_333


def test_the_final_name_appears_only_at_close(tmp_path):
    sink = sink_from_uri(f"rosbag://{tmp_path}/late.mcap")
    sink.open(context())
    sink.write(make_result(0))
    assert not (tmp_path / "late").exists() and (tmp_path / "late.partial" / "late").is_dir()
    sink.close()
    sink.close()  # twice is harmless
    assert (tmp_path / "late" / "metadata.yaml").is_file() and not (tmp_path / "late.partial").exists()


def test_a_write_error_stops_with_a_clear_message_and_keeps_a_readable_bag(tmp_path, monkeypatch):
    sink = sink_from_uri(f"rosbag://{tmp_path}/full.db3")
    sink.open(context())
    sink.write(make_result(0))
    sink.write(make_result(1))

    def no_space(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sink.writer, "write", no_space)
    with pytest.raises(AmfEdgeError, match=r"writing frame 2 failed .*No space left.*the 2 frame\(s\) before it are "
                                           r"kept in .*full; check the disk space"):
        sink.write(make_result(2))
    monkeypatch.undo()
    sink.close()
    assert len(read_bag(tmp_path / "full")["/amf_edge/labels"]) == 2 and sink.stats()["written"] == 2


def test_an_existing_bag_is_never_overwritten(tmp_path):
    (tmp_path / "old").mkdir()
    with pytest.raises(AmfEdgeError, match=r"old exists already; remove it or name another bag"):
        sink_from_uri(f"rosbag://{tmp_path}/old.mcap")  # before the model loads
    sink = sink_from_uri(f"rosbag://{tmp_path}/new.mcap")
    (tmp_path / "new").mkdir()  # appeared since
    with pytest.raises(AmfEdgeError, match=r"new exists already"):
        sink.open(context())
    assert list((tmp_path / "old").iterdir()) == list((tmp_path / "new").iterdir()) == []


def test_a_partial_bag_of_a_killed_run_is_replaced(tmp_path):
    (tmp_path / "k.partial" / "k").mkdir(parents=True)
    (tmp_path / "k.partial" / "k" / "k.mcap").write_bytes(b"\x89MCAP0\r\n")
    write(f"rosbag://{tmp_path}/k.mcap", 1)
    assert len(read_bag(tmp_path / "k")["/amf_edge/labels"]) == 1


@pytest.mark.parametrize("uri, message", [
    ("rosbag://out.mcap?storage=sqlite3", "the name says mcap (.mcap) but ?storage=sqlite3; drop one of them"),
    ("rosbag://out?storage=zip", "option 'storage' must be one of sqlite3, mcap"),
    ("rosbag://out.mcap?prefix=amf", "option 'prefix' must be a ROS name such as /amf_edge"),
    ("rosbag://out.mcap?prefix=/a//b", "option 'prefix' must be a ROS name"),
    ("rosbag://out.mcap?frame_id=", "option 'frame_id' must be a TF frame name"),
    ("rosbag://out.mcap?fps=3", "unknown option 'fps'; valid options: storage, prefix, overlay, frame_id"),
    ("rosbag://", "names no file; write rosbag://PATH"),
])
def test_bad_uris(uri, message):
    with pytest.raises(AmfEdgeError, match=message.replace("?", r"\?").replace("(", r"\(").replace(")", r"\)")):
        sink_from_uri(uri)
