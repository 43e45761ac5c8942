"""ROS recordings with realsense-ros topics for tests, written with rosbags: ROS 1 `.bag` files and ROS 2
`.db3`/`.mcap` rosbag2 folders, as the realsense-ros wrappers publish them (`write_camera_bag`).

realsense-ros publishes, per frame, the colour image (rgb8), the depth aligned to colour (16UC1 millimetres)
and each one's camera_info, stamped with the camera's time; a recorder files them at their receive time, a
little later. Here colour frame i is stamped t0 + i/30 s and its depth `depth_skew_ns` later (separate sensors),
each filed 10 ms after its stamp, so the bag order and the stamps differ as in a real recording.

Pixels are recognisable: colour frame i is uniform RGB (10·i mod 256, 100, 200) with a white pixel at (0, 0);
depth frame i is 1000 + i millimetres with 0 (no measurement) at (0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NS = 1_000_000_000
ROS2_PREFIX, ROS1_PREFIX = "/camera/camera", "/camera"  # realsense-ros 4.x on ROS 2; 2.x on ROS 1
FRAME_ID = "camera_color_optical_frame"


@dataclass
class CameraBag:
    """What `write_camera_bag` wrote: the URI location to read, the topics and the truth to compare with."""

    path: Path
    color_topic: str
    depth_topic: str
    info_topic: str
    color_stamps_ns: list[int]  # header stamps, exactly
    depth_stamps_ns: list[int]
    intrinsics: tuple[float, float, float, float]
    rgb: list[np.ndarray] = field(repr=False)  # colour frame i in RGB
    depth_mm: list[np.ndarray] = field(repr=False)  # depth frame i in millimetres (uint16)


def color_pixels(i: int, height: int, width: int) -> np.ndarray:
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[...] = ((10 * i) % 256, 100, 200)
    rgb[0, 0] = 255
    return rgb


def depth_pixels(i: int, height: int, width: int) -> np.ndarray:
    depth = np.full((height, width), 1000 + i, np.uint16)
    depth[0, 0] = 0
    return depth


def write_camera_bag(
    path: str | Path,
    *,
    n: int = 6,
    height: int = 32,
    width: int = 40,
    prefix: str | None = None,
    color_encoding: str = "rgb8",
    depth_encoding: str = "16UC1",
    compressed_color: bool = False,
    depth_skew_ns: int = 4_000_000,
    color_without_depth: tuple[int, ...] = (3,),
    depth_size: tuple[int, int] | None = None,
    depth_topic: str | None = None,
    with_depth: bool = True,
    with_info: bool = True,
    start_ns: int = 1_700_000_000 * NS,
    compression: str | None = None,
) -> CameraBag:
    """Write `n` colour frames (and a depth frame for each not in `color_without_depth`) into `path`.

    The suffix picks the format: `.bag` is a ROS 1 bag (file), `.db3` and `.mcap` a rosbag2 folder named
    without the suffix (what `ros2 bag record` makes); `CameraBag.path` is what to put after rosbag://.
    `prefix` defaults to realsense-ros 4.x's /camera/camera on ROS 2 and 2.x's /camera on ROS 1. `compression`
    ("bz2" or "lz4", ROS 1 only) compresses the chunks as `rosbag record -j` or `--lz4` do.
    """
    from rosbags.typesys import Stores, get_typestore

    path = Path(path)
    ros1 = path.suffix == ".bag"
    store = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
    prefix = prefix or (ROS1_PREFIX if ros1 else ROS2_PREFIX)
    color_topic = f"{prefix}/color/image_raw" + ("/compressed" if compressed_color else "")
    depth_topic = depth_topic or f"{prefix}/aligned_depth_to_color/image_raw"
    info_topic = f"{prefix}/color/camera_info"
    intrinsics = (0.8 * width, 0.8 * width, (width - 1) / 2, (height - 1) / 2)
    dh, dw = depth_size or (height, width)

    truth = CameraBag(path if ros1 else path.with_suffix(""), color_topic, depth_topic, info_topic, [], [],
                      intrinsics, [], [])
    events = []  # (receive time ns, topic, msgtype, message)
    for i in range(n):
        t = start_ns + round(i * NS / 30)
        rgb = color_pixels(i, height, width)
        truth.color_stamps_ns.append(t)
        truth.rgb.append(rgb)
        color = (_compressed(store, ros1, t, rgb) if compressed_color
                 else _image(store, ros1, t, _encode_color(rgb, color_encoding), color_encoding))
        msgtype = "sensor_msgs/msg/CompressedImage" if compressed_color else "sensor_msgs/msg/Image"
        events.append((t + 10_000_000, color_topic, msgtype, color))
        if with_info:
            events.append((t + 11_000_000, info_topic, "sensor_msgs/msg/CameraInfo",
                           _camera_info(store, ros1, t, height, width, intrinsics)))
        if with_depth and i not in color_without_depth:
            td = t + depth_skew_ns
            mm = depth_pixels(i, dh, dw)
            truth.depth_stamps_ns.append(td)
            truth.depth_mm.append(mm)
            data = mm.astype(np.float32) / 1000 if depth_encoding == "32FC1" else mm
            events.append((td + 10_000_000, depth_topic, "sensor_msgs/msg/Image", _image(store, ros1, td, data,
                                                                                    depth_encoding)))
    events.sort(key=lambda e: e[0])
    _write(path, ros1, store, events, compression)
    return truth


def _encode_color(rgb: np.ndarray, encoding: str) -> np.ndarray:
    return {"rgb8": rgb, "bgr8": rgb[:, :, ::-1], "rgba8": np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)]),
            "mono8": rgb[:, :, 1]}.get(encoding, rgb)


def _header(store, ros1: bool, t: int, seq: int = 0):
    m = store.types
    sec, nanosec = divmod(t, NS)
    stamp = m["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
    extra = {"seq": seq} if ros1 else {}
    return m["std_msgs/msg/Header"](stamp=stamp, frame_id=FRAME_ID, **extra)


def _image(store, ros1: bool, t: int, pixels: np.ndarray, encoding: str):
    h, w = pixels.shape[:2]
    data = np.ascontiguousarray(pixels).view(np.uint8).reshape(-1)
    return store.types["sensor_msgs/msg/Image"](header=_header(store, ros1, t), height=h, width=w, encoding=encoding,
                                                is_bigendian=0, step=data.size // h, data=data)


def _compressed(store, ros1: bool, t: int, rgb: np.ndarray):
    import cv2

    ok, png = cv2.imencode(".png", rgb[:, :, ::-1])  # lossless, so tests can compare pixels exactly
    assert ok
    return store.types["sensor_msgs/msg/CompressedImage"](header=_header(store, ros1, t),
                                                          format="rgb8; png compressed bgr8", data=png.reshape(-1))


def _camera_info(store, ros1: bool, t: int, height: int, width: int, k: tuple[float, float, float, float]):
    m = store.types
    fx, fy, cx, cy = k
    matrices = {"D": np.zeros(5), "K": np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], np.float64),
                "R": np.eye(3).reshape(-1), "P": np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], np.float64)}
    matrices = matrices if ros1 else {key.lower(): value for key, value in matrices.items()}
    roi = m["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return m["sensor_msgs/msg/CameraInfo"](header=_header(store, ros1, t), height=height, width=width,
                                           distortion_model="plumb_bob", binning_x=0, binning_y=0, roi=roi, **matrices)


def _write(path: Path, ros1: bool, store, messages: list[tuple[int, str, str, object]],
           compression: str | None) -> None:
    if ros1:
        from rosbags.rosbag1 import Writer

        path.unlink(missing_ok=True)
        bag = Writer(path)
        if compression:
            bag.set_compression(Writer.CompressionFormat[compression.upper()])
        with bag:
            connections = {}
            for t_ns, topic, msgtype, msg in messages:
                if topic not in connections:
                    connections[topic] = bag.add_connection(topic, msgtype, typestore=store)
                bag.write(connections[topic], t_ns, store.serialize_ros1(msg, msgtype))
        return
    from rosbags.rosbag2 import StoragePlugin, Writer

    plugin = StoragePlugin.MCAP if path.suffix == ".mcap" else StoragePlugin.SQLITE3
    with Writer(path.with_suffix(""), version=8, storage_plugin=plugin) as bag:
        connections = {}
        for t_ns, topic, msgtype, msg in messages:
            if topic not in connections:
                connections[topic] = bag.add_connection(topic, msgtype, typestore=store)
            bag.write(connections[topic], t_ns, store.serialize_cdr(msg, msgtype))
