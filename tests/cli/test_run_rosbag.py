"""`amf-edge run` from a ROS bag to a ROS bag in a real process: realsense-ros recordings (ROS 1 and ROS 2, written
with rosbags) through a toy ONNX model into a rosbag2 folder, read back with rosbags' AnyReader: the labels are
the model's, the stamps the source's, one result per paired frame. A bad recording is one line and exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rosbag_data import write_camera_bag

from amf_edge.testing import toy_model

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("rosbags")
pytest.importorskip("cv2")
ROOT = Path(__file__).resolve().parents[2]
H, W = 32, 40
PAIRED = [0, 1, 2, 4, 5]  # write_camera_bag's colour frame 3 has no depth partner


def amf_edge(*args):
    return subprocess.run([sys.executable, "-m", "amf_edge.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


def read_topic(path: Path, topic: str) -> list[tuple[int, object]]:
    from rosbags.highlevel import AnyReader

    with AnyReader([path]) as reader:
        return [(t, reader.deserialize(raw, c.msgtype))
                for c, t, raw in reader.messages([c for c in reader.connections if c.topic == topic])]


@pytest.mark.parametrize("source, sink", [("robot.bag", "labels.mcap"), ("robot.db3", "labels.db3"),
                                          ("robot.mcap", "labels.mcap")])
def test_run_from_a_bag_into_a_bag(tmp_path, source, sink):
    bag = write_camera_bag(tmp_path / source, height=H, width=W)
    model = toy_model(tmp_path / "toy.onnx", H, W)
    result = amf_edge("run", model, "--source", f"rosbag://{bag.path}", "--sink", f"rosbag://{tmp_path / sink}")
    assert result.returncode == 0, result.stderr
    assert "5 frames in, 5 out, 0 dropped" in result.stdout
    assert "1 colour and 0 depth frame(s) found no partner" in result.stderr  # the frame left out is not silent
    out = tmp_path / "labels"
    labels = read_topic(out, "/amf_edge/labels")
    assert len(labels) == len(PAIRED) == len(read_topic(out, "/amf_edge/overlay"))
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for (t, msg), i in zip(labels, PAIRED):
        assert t == bag.color_stamps_ns[i] == msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        depth = np.full((1, H, W), (1000 + i) / 1000, np.float32)
        depth[0, 0, 0] = 0
        (expected,) = session.run(["labels"], {"rgb": bag.rgb[i][None], "depth": depth})
        np.testing.assert_array_equal(msg.data.reshape(H, W), expected[0])
        assert msg.header.frame_id == "camera_color_optical_frame"
    info = read_topic(out, "/amf_edge/camera_info")[0][1]
    assert tuple(info.k[[0, 4, 2, 5]]) == bag.intrinsics


def one_clear_line(result, message: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_bag_without_depth_is_one_clear_line(tmp_path):
    bag = write_camera_bag(tmp_path / "nodepth.bag", height=H, width=W, with_depth=False)
    result = amf_edge("run", toy_model(tmp_path / "toy.onnx", H, W), "--source", f"rosbag://{bag.path}",
                      "--sink", f"rosbag://{tmp_path / 'out.mcap'}")
    one_clear_line(result, "no depth registered to colour")
    assert not (tmp_path / "out").exists()


def test_a_damaged_bag_fails_the_run(tmp_path):
    """A recording cut short is exit 1 with the reason, never a short run that exits 0."""
    bag = write_camera_bag(tmp_path / "whole.mcap", height=H, width=W)
    cut = tmp_path / "cut.mcap"
    data = (bag.path / "whole.mcap").read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    result = amf_edge("run", toy_model(tmp_path / "toy.onnx", H, W), "--source", f"rosbag://{cut}",
                      "--sink", f"rosbag://{tmp_path / 'out.mcap'}")
    one_clear_line(result, "mcap recover")


def test_damage_inside_a_bag_fails_the_run(tmp_path):
    bag = write_camera_bag(tmp_path / "whole.bag", height=H, width=W, n=10, color_without_depth=())
    data = bytearray(bag.path.read_bytes())
    start = len(data) * 3 // 10
    data[start:start + 300] = b"\xff" * 300
    (tmp_path / "damaged.bag").write_bytes(bytes(data))
    result = amf_edge("run", toy_model(tmp_path / "toy.onnx", H, W), "--source", f"rosbag://{tmp_path / 'damaged.bag'}",
                      "--sink", f"rosbag://{tmp_path / 'out.mcap'}")
    one_clear_line(result, "damaged.bag is damaged after")


def test_depth_of_another_size_fails_the_run(tmp_path):
    bag = write_camera_bag(tmp_path / "raw.db3", height=H, width=W, depth_size=(24, 30),
                           depth_topic="/camera/camera/depth/image_rect_raw")
    result = amf_edge("run", toy_model(tmp_path / "toy.onnx", H, W), "--source",
                      f"rosbag://{bag.path}?depth=/camera/camera/depth/image_rect_raw", "--sink",
                      f"rosbag://{tmp_path / 'out.mcap'}")
    one_clear_line(result, "but depth /camera/camera/depth/image_rect_raw is 30×24")
