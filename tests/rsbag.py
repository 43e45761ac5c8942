"""RealSense fixtures for tests: ROS1 `.bag` files written without librealsense (`write_rs_bag`, uses
`rosbags`) and a camera made of software (`SoftwareCamera`, for the live and recording paths).

librealsense ≥ 2.58 records only ROS2 `.db3`, but users still hold `.bag` files from older SDKs, so the
tests need `.bag` fixtures. Committing binaries is not an option, so this module writes the layout that
librealsense 2.56 writes (`src/media/ros/ros_writer.cpp`), message by message:

    /file_version                                          std_msgs/UInt32 (4)
    /device_0/info                                         diagnostic_msgs/KeyValue, one per camera info
    /device_0/sensor_K/info                                KeyValue "Name"
    /device_0/sensor_0/option/Depth_Units/{value,description}   Float32 / String
    /device_0/sensor_K/{Depth_0,Color_0}/info              realsense_msgs/StreamInfo (fps, encoding)
    /device_0/sensor_K/{Depth_0,Color_0}/info/camera_info  sensor_msgs/CameraInfo (size, K, D)
    /device_0/sensor_K/{Depth_0,Color_0}/tf/0              geometry_msgs/Transform (extrinsics to depth)
    /device_0/sensor_K/{Depth_0,Color_0}/image/data        sensor_msgs/Image: header.seq = frame number,
                                                           header.stamp = frame timestamp
    /device_0/sensor_K/{Depth_0,Color_0}/image/metadata    KeyValue timestamp_domain, system_time

librealsense's Image carries one field more than ROS's: 4 trailing bytes with a float32 depth unit (the
depth unit for depth frames, 0 for colour). We append them by hand so that the fixtures look like real
files (pyrealsense2 2.59 plays them with or without; rosbags' own reader rejects them). Chunks stay
uncompressed: librealsense rejects rosbags' LZ4 chunks and crashes on BZ2 ones.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

# librealsense's realsense_msgs/StreamInfo; this text gives the MD5 its reader checks (311d7e24...).
STREAM_INFO_MSG = "uint32 fps\nstring encoding\nbool is_recommended\n"
STATIC_NS = 1  # ros::TIME_MIN: librealsense files its static information at this bag time
ENCODINGS = {"rgb8": 3, "bgr8": 3, "mono16": 2}


@dataclass
class BagFrame:
    """One frame of one stream: its device frame number, timestamp (s) and pixels."""

    number: int
    timestamp_s: float
    image: np.ndarray


@dataclass
class BagStream:
    """A stream's frames with its profile: size comes from the frames, intrinsics (fx, fy, cx, cy)."""

    frames: list[BagFrame]
    intrinsics: tuple[float, float, float, float]
    encoding: str


def pattern_pairs(n: int, height: int, width: int, fps: float = 30.0, start_s: float = 1.0,
                  first_number: int = 1) -> tuple[list[BagFrame], list[BagFrame]]:
    """`n` colour and depth frames with equal numbers and timestamps and recognisable pixels.

    Colour frame i is uniform (10·i mod 256, 100, 200) in RGB order except a white pixel at (0, 0); depth
    frame i is 1000 + i everywhere except a 0 (no measurement) at (0, 0), in raw counts.
    """
    color, depth = [], []
    for i in range(n):
        number, t = first_number + i, start_s + i / fps
        rgb = np.empty((height, width, 3), np.uint8)
        rgb[...] = ((10 * number) % 256, 100, 200)
        rgb[0, 0] = 255
        d = np.full((height, width), 1000 + number, np.uint16)
        d[0, 0] = 0
        color.append(BagFrame(number, t, rgb))
        depth.append(BagFrame(number, t, d))
    return color, depth


def default_intrinsics(height: int, width: int) -> tuple[float, float, float, float]:
    return (0.8 * width, 0.8 * width, (width - 1) / 2, (height - 1) / 2)


def write_rs_bag(
    path: str | Path,
    color: list[BagFrame],
    depth: list[BagFrame],
    *,
    fps: int = 30,
    depth_unit: float = 0.001,
    color_intrinsics: tuple[float, float, float, float] | None = None,
    depth_intrinsics: tuple[float, float, float, float] | None = None,
    color_encoding: str = "rgb8",
    color_to_depth_m: tuple[float, float, float] = (0.0, 0.0, 0.0),
    depth_clock_offset_s: float = 0.0,
) -> Path:
    """Write a librealsense-compatible ROS1 bag with one depth and one colour stream; returns its path.

    Args:
        color: colour frames (uint8 H×W×3 in `color_encoding` channel order), in the order to write.
        depth: depth frames (uint16 H×W raw counts).
        depth_unit: metres per depth count, stored as the Depth_Units option and in every depth Image.
        color_intrinsics, depth_intrinsics: (fx, fy, cx, cy); default `default_intrinsics` of the frame size.
        color_to_depth_m: the colour camera's translation to the depth camera (its extrinsics), metres.
        depth_clock_offset_s: added to the depth frames' timestamps but not to their place in the file: a
            depth stream stamped by another clock.
    """
    if color_encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"color_encoding must be rgb8 or bgr8, got {color_encoding!r}")
    path = Path(path)
    ts = get_typestore(Stores.ROS1_NOETIC)
    ts.register(get_types_from_msg(STREAM_INFO_MSG, "realsense_msgs/msg/StreamInfo"))
    m = ts.types  # message classes by type name
    streams = {}  # an empty frame list leaves its stream out: a recording without depth (or colour)
    if depth:
        streams[("Depth", 0)] = BagStream(depth, depth_intrinsics or _size_intrinsics(depth), "mono16")
    if color:
        streams[("Color", 1)] = BagStream(color, color_intrinsics or _size_intrinsics(color), color_encoding)
    path.unlink(missing_ok=True)
    with Writer(path) as bag:
        connections = {}

        def write(topic: str, msgtype: str, t_ns: int, msg: object, tail: bytes = b"") -> None:
            if topic not in connections:
                connections[topic] = bag.add_connection(topic, msgtype, typestore=ts)
            bag.write(connections[topic], t_ns, bytes(ts.serialize_ros1(msg, msgtype)) + tail)

        kv = "diagnostic_msgs/msg/KeyValue"
        write("/file_version", "std_msgs/msg/UInt32", STATIC_NS, m["std_msgs/msg/UInt32"](data=4))
        for key, value in (("Name", "amf-edge test bag"), ("Serial Number", "000000000001"),
                           ("Firmware Version", "5.0.0.0")):
            write("/device_0/info", kv, STATIC_NS, m[kv](key=key, value=value))
        for stream, sensor in streams:
            name = "Stereo Module" if stream == "Depth" else "RGB Camera"
            write(f"/device_0/sensor_{sensor}/info", kv, STATIC_NS, m[kv](key="Name", value=name))
        if depth:
            write("/device_0/sensor_0/option/Depth_Units/value", "std_msgs/msg/Float32", STATIC_NS,
                  m["std_msgs/msg/Float32"](data=depth_unit))
            write("/device_0/sensor_0/option/Depth_Units/description", "std_msgs/msg/String", STATIC_NS,
                  m["std_msgs/msg/String"](data="Number of meters represented by a single depth unit"))

        for (stream, sensor), s in streams.items():
            prefix = f"/device_0/sensor_{sensor}/{stream}_0"
            h, w = s.frames[0].image.shape[:2]
            fx, fy, cx, cy = s.intrinsics
            write(f"{prefix}/info", "realsense_msgs/msg/StreamInfo", STATIC_NS,
                  m["realsense_msgs/msg/StreamInfo"](fps=fps, encoding=s.encoding, is_recommended=True))
            write(f"{prefix}/info/camera_info", "sensor_msgs/msg/CameraInfo", STATIC_NS,
                  _camera_info(m, h, w, fx, fy, cx, cy))
            translation = color_to_depth_m if stream == "Color" else (0.0, 0.0, 0.0)
            write(f"{prefix}/tf/0", "geometry_msgs/msg/Transform", STATIC_NS, m["geometry_msgs/msg/Transform"](
                translation=m["geometry_msgs/msg/Vector3"](x=translation[0], y=translation[1], z=translation[2]),
                rotation=m["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)))

        # Frames go in timestamp order, depth first on ties, at bag times counted from the first frame,
        # as the recorder files them (bag time = time since the recording started).
        events = [(f.timestamp_s, 0 if stream == "Depth" else 1, i, (stream, sensor), f)
                  for (stream, sensor), s in streams.items() for i, f in enumerate(s.frames)]
        events.sort(key=lambda e: e[:3])
        t0 = events[0][0]
        for t, _, _, (stream, sensor), f in events:
            s = streams[(stream, sensor)]
            prefix = f"/device_0/sensor_{sensor}/{stream}_0/image"
            t_ns = 1_000_000 + round((t - t0) * 1e9)
            _check_image(f.image, s.encoding)
            h, w = f.image.shape[:2]
            stamp = f.timestamp_s + (depth_clock_offset_s if stream == "Depth" else 0.0)
            secs = int(stamp)
            header = m["std_msgs/msg/Header"](
                seq=f.number, stamp=m["builtin_interfaces/msg/Time"](sec=secs, nanosec=round((stamp - secs) * 1e9)),
                frame_id="")
            image = m["sensor_msgs/msg/Image"](
                header=header, height=h, width=w, encoding=s.encoding, is_bigendian=0,
                step=w * ENCODINGS[s.encoding], data=np.ascontiguousarray(f.image).view(np.uint8).reshape(-1))
            unit = depth_unit if stream == "Depth" else 0.0
            write(f"{prefix}/data", "sensor_msgs/msg/Image", t_ns, image, struct.pack("<f", unit))
            write(f"{prefix}/metadata", kv, t_ns, m[kv](key="system_time", value=str(int(t * 1000))))
            write(f"{prefix}/metadata", kv, t_ns, m[kv](key="timestamp_domain", value="Hardware Clock"))
    return path


def _size_intrinsics(frames: list[BagFrame]) -> tuple[float, float, float, float]:
    h, w = frames[0].image.shape[:2]
    return default_intrinsics(h, w)


def _camera_info(m: dict, h: int, w: int, fx: float, fy: float, cx: float, cy: float) -> object:
    return m["sensor_msgs/msg/CameraInfo"](
        header=m["std_msgs/msg/Header"](seq=0, stamp=m["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id=""),
        height=h, width=w, distortion_model="Brown Conrady", D=np.zeros(5),
        K=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], np.float64), R=np.eye(3).reshape(-1),
        P=np.zeros(12), binning_x=0, binning_y=0,
        roi=m["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def _check_image(image: np.ndarray, encoding: str) -> None:
    expected = (np.uint16, 2) if encoding == "mono16" else (np.uint8, 3)
    ok = image.dtype == expected[0] and image.ndim == expected[1] and (image.ndim == 2 or image.shape[2] == 3)
    if not ok:
        raise ValueError(f"{encoding} frame must be {expected[0].__name__} with {expected[1]} dims, "
                         f"got {image.dtype} {image.shape}")


class SoftwareCamera:
    """A RealSense camera made of software (`rs.software_device`): frames go in by `push`.

    It has what a D400 reports to our code: a "Stereo Module" with a z16 depth stream and the depth-units
    option, an "RGB Camera" with an rgb8 colour stream, intrinsics, and depth → colour extrinsics.
    """

    def __init__(self, height: int, width: int, *, fps: int = 30, depth_unit: float = 0.001,
                 intrinsics: tuple[float, float, float, float] | None = None, serial: str = "000000000042") -> None:
        import pyrealsense2 as rs

        self.rs, self.height, self.width = rs, height, width
        self.intrinsics = intrinsics or default_intrinsics(height, width)
        self.device = rs.software_device()
        self.device.register_info(rs.camera_info.name, "amf-edge software camera")
        self.device.register_info(rs.camera_info.serial_number, serial)
        self.depth_sensor = self.device.add_sensor("Stereo Module")
        self.color_sensor = self.device.add_sensor("RGB Camera")
        self.depth_profile = self.depth_sensor.add_video_stream(self._stream(rs.stream.depth, 0, rs.format.z16, 2, fps))
        self.color_profile = self.color_sensor.add_video_stream(
            self._stream(rs.stream.color, 1, rs.format.rgb8, 3, fps))
        self.depth_sensor.add_read_only_option(rs.option.depth_units, depth_unit)
        extrinsics = rs.extrinsics()
        extrinsics.rotation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        extrinsics.translation = [0.0, 0.0, 0.0]
        self.depth_profile.register_extrinsics_to(self.color_profile, extrinsics)

    def _stream(self, kind: object, uid: int, fmt: object, bpp: int, fps: int) -> object:
        rs = self.rs
        k = rs.intrinsics()
        k.width, k.height = self.width, self.height
        k.fx, k.fy, k.ppx, k.ppy = self.intrinsics
        k.model, k.coeffs = rs.distortion.brown_conrady, [0.0] * 5
        s = rs.video_stream()
        s.type, s.index, s.uid, s.width, s.height, s.fps, s.bpp, s.fmt, s.intrinsics = (
            kind, 0, uid, self.width, self.height, fps, bpp, fmt, k)
        return s

    def push(self, frame: BagFrame, stream: str) -> None:
        """Inject one frame ("depth" or "color") with its number and timestamp (hardware clock)."""
        rs = self.rs
        sensor, profile, bpp = ((self.depth_sensor, self.depth_profile, 2) if stream == "depth"
                                else (self.color_sensor, self.color_profile, 3))
        f = rs.software_video_frame()
        f.pixels = np.ascontiguousarray(frame.image)
        f.stride, f.bpp = self.width * bpp, bpp
        f.timestamp = frame.timestamp_s * 1000.0
        f.domain = rs.timestamp_domain.hardware_clock
        f.frame_number = frame.number
        f.profile = profile.as_video_stream_profile()
        sensor.on_video_frame(f)


def record_db3(path: Path, n: int, height: int, width: int, every_s: float = 0.0) -> Path:
    """`n` pattern frames pushed through a SoftwareCamera and recorded by amf-edge's Recorder (librealsense's
    recorder: a ROS 2 .db3), one every `every_s` seconds."""
    from amf_edge.runtime.record import Recorder

    cam = SoftwareCamera(height, width)
    color, depth = pattern_pairs(n, height, width)
    with Recorder(cam.device, path, what="software camera") as rec:
        for c, d in zip(color, depth):
            cam.push(d, "depth")
            cam.push(c, "color")
            time.sleep(every_s)  # the recorder files frames at wall-clock time: spread them like a camera would
        rec.wait(frames=n, seconds=10)
    return path
