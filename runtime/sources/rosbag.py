"""`rosbag://PATH`: RGB-D frames from a ROS recording with camera-driver topics (rosbags; the `ros` extra).

    rosbag://robot.bag                        ROS 1
    rosbag://robot_run/  or  .../robot_run_0.db3  or  .../robot_run_0.mcap   ROS 2 (the folder or its file)

Options: ?color=TOPIC&depth=TOPIC (sensor_msgs/Image; colour may be a JPEG/PNG CompressedImage), ?info=TOPIC
(sensor_msgs/CameraInfo of the colour camera), ?max_dt=S, ?depth_unit=0.001, ?width=&height=, ?loop=1.

Without ?color= and ?depth= the realsense-ros names are used: ROS 2 wrapper 4.x (`/camera/camera/...`) or
ROS 1 2.x and older ROS 2 (`/camera/...`), colour `color/image_raw` (or its `/compressed`) and depth
`aligned_depth_to_color/image_raw`: depth registered to colour, the only kind a segmentation model can take
pixel by pixel (realsense-ros publishes it with align_depth.enable:=true). The info topic defaults to the
colour topic's sibling `camera_info`; without one the frames have no intrinsics.

Colour and depth are paired by header.stamp (the bag's receive time where a stamp is 0) through
`amf_edge.runtime.sync.StreamSynchronizer`, with max_dt default half the colour topic's mean frame interval.
Depth 16UC1/mono16 are counts of ?depth_unit metres (realsense-ros: millimetres, the default); 32FC1 is
metres, stored as counts of depth_unit. Frame.index is the colour message's position in its topic, so
gaps show colour frames that found no depth partner (counted in stats()); Frame.timestamp_s the colour stamp.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import sqlite3
import struct
import time
from collections.abc import Iterator
from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime import ros
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sources.base import Source
from amf_edge.runtime.sources.common import DEPTH_UNIT, FILE_OPTIONS, MAX_DT, looped, output_size, resize_for_model
from amf_edge.runtime.sync import Stamped, StreamSynchronizer
from amf_edge.sample import Intrinsics, RGBDSample
from amf_edge.uri import parse_uri

log = logging.getLogger(__name__)


def _topic(text: str) -> str:
    if not text.startswith("/") or text.endswith("/") or "//" in text:
        raise ValueError
    return text


TOPIC = (_topic, "a ROS topic name starting with '/', e.g. /camera/color/image_raw")
OPTIONS = {**FILE_OPTIONS, "color": TOPIC, "depth": TOPIC, "info": TOPIC, "max_dt": MAX_DT, "depth_unit": DEPTH_UNIT}
EXAMPLE = "rosbag://robot.bag?color=/camera/color/image_raw&depth=/camera/aligned_depth_to_color/image_raw"
SUFFIXES = (".bag", ".db3", ".mcap")
# realsense-ros: the ROS 2 wrapper 4.x (namespace and name "camera"), then ROS 1 2.x and older ROS 2 wrappers
COLOR_TOPICS = ("/camera/camera/color/image_raw", "/camera/color/image_raw",
                "/camera/camera/color/image_raw/compressed", "/camera/color/image_raw/compressed")
DEPTH_TOPICS = ("/camera/camera/aligned_depth_to_color/image_raw", "/camera/aligned_depth_to_color/image_raw")
FALLBACK_MAX_DT = 1 / 60  # half a frame at 30 FPS, for a colour topic too short to measure its rate
REPAIR = {".bag": "`rosbag reindex FILE` (ROS 1) repairs a bag whose recorder was killed",
          ".mcap": "`mcap recover FILE -o FIXED.mcap` (the mcap CLI) repairs a file whose recorder was killed",
          ".db3": "`sqlite3 FILE .recover | sqlite3 FIXED.db3` salvages what a damaged .db3 still holds"}


@dataclasses.dataclass
class RosFrame(Frame):
    """A Frame that remembers its colour image's header: frame_id, and the stamp in integer nanoseconds (a float of
    seconds since 1970 keeps only about 0.2 µs), so a rosbag:// sink can stamp each result exactly as its input."""

    frame_id: str = ""
    stamp_ns: int | None = None


def read_errors() -> tuple[type[BaseException], ...]:
    """What rosbags and its storage libraries raise on a damaged file (their own types are not one family)."""
    apsw = importlib.import_module("apsw")  # rosbags' sqlite3 backend, a dependency of rosbags
    return (ros.rosbags("highlevel").AnyReaderError, ros.rosbags("rosbag1").ReaderError,
            ros.rosbags("rosbag2").ReaderError, ros.rosbags("serde").SerdeError, apsw.Error, sqlite3.Error,
            struct.error, OSError, IndexError, ValueError)  # the last three: a message cut short


def bag_kind(path: Path) -> str:
    """The repair hint's key for a bag: its suffix, or the storage inside a rosbag2 folder."""
    if path.is_dir():
        return next((s for s in (".mcap", ".db3") if any(path.glob(f"*{s}"))), ".db3")
    return path.suffix.lower()


class RosbagSource(Source):
    scheme = "rosbag"

    def __init__(self, uri: str):
        super().__init__(uri)
        location, options = parse_uri(uri, "rosbag", OPTIONS, EXAMPLE, location="file")
        self.path = Path(location)
        if self.path.name == "metadata.yaml":  # a rosbag2 folder named by its metadata file: the folder
            self.path = self.path.parent
        self._check_path(location)
        self.size = output_size(uri, options)
        self.loop = bool(options.get("loop", False))
        self.resize = bool(options.get("resize", True))
        self.depth_unit = float(options.get("depth_unit", 0.001))
        self.errors = read_errors()
        self._info_size: tuple[int, int] | None = None  # of the last CameraInfo read
        self.reader = self._open()
        try:
            topics = {name: info.msgtype for name, info in self.reader.topics.items()}
            self.color_topic = self._choose(options.get("color"), COLOR_TOPICS, topics, "color")
            self.depth_topic = self._choose(options.get("depth"), DEPTH_TOPICS, topics, "depth")
            if topics[self.depth_topic] != ros.IMAGE:
                raise AmfEdgeError(f"{self.path}: depth must be a sensor_msgs/Image (16UC1 or 32FC1), but "
                                   f"{self.depth_topic} is a {topics[self.depth_topic]}; record the raw depth topic, "
                                   "e.g. /camera/aligned_depth_to_color/image_raw, and pass it with ?depth=")
            if self.color_topic == self.depth_topic:
                raise AmfEdgeError(f"{self.path}: colour and depth are both {self.color_topic}; "
                                   "give two different topics with ?color= and ?depth=")
            self.info_topic = self._info_topic(options.get("info"), topics)
            self.max_dt = float(options.get("max_dt") or self._half_interval())
            self.intrinsics = self._first_intrinsics()
        except BaseException:
            self.close()
            raise
        self.sync = StreamSynchronizer(self.max_dt)
        self.delivered = 0
        self._passes = 0

    # -- opening ---------------------------------------------------------------------------------------

    def _check_path(self, location: str) -> None:
        path = self.path
        expected = ("expected a ROS 1 .bag, a ROS 2 .db3 or .mcap file, or a rosbag2 folder holding metadata.yaml, "
                    f"e.g. {EXAMPLE!r}")
        if not path.exists():
            raise AmfEdgeError(f"rosbag://{location}: {path} does not exist; {expected}")
        if path.is_dir() and not (path / "metadata.yaml").is_file():
            raise AmfEdgeError(f"rosbag://{location}: the folder {path} has no metadata.yaml; name the .db3 or .mcap "
                               f"file inside it, or run `ros2 bag reindex {path}`; {expected}")
        if path.name.endswith(".bag.active"):
            raise AmfEdgeError(f"rosbag://{location}: {path.name} is a ROS 1 bag whose recording never finished; "
                               "run `rosbag reindex` on it, rename it to .bag and read that")
        if path.is_file() and path.suffix.lower() not in SUFFIXES:
            raise AmfEdgeError(f"rosbag://{location}: {path.name} is not a .bag, .db3 or .mcap file; {expected}")

    def _open(self) -> object:
        highlevel = ros.rosbags("highlevel")
        try:
            reader = highlevel.AnyReader([self.path], default_typestore=ros.typestore())
            reader.open()
        except self.errors as e:
            raise AmfEdgeError(f"cannot read {self.path} as a ROS bag ({e}); {REPAIR[bag_kind(self.path)]}, "
                               "or check that it is a complete recording") from None
        return reader

    def _choose(self, given: str | None, defaults: tuple[str, ...], topics: dict, role: str) -> str:
        images = sorted(name for name, msgtype in topics.items() if msgtype in ros.IMAGE_TYPES)
        listed = ", ".join(images) or "none"
        fix = (f"pass the bag's topics as rosbag://{self.path}?color=COLOR_TOPIC&depth=DEPTH_TOPIC "
               "(`ros2 bag info` or `rosbag info` lists them)")
        if given is not None:
            if given not in topics:
                raise AmfEdgeError(f"{self.path}: ?{role}={given} is not a topic of this bag; its image topics: "
                                   f"{listed}")
            if topics[given] not in ros.IMAGE_TYPES:
                raise AmfEdgeError(f"{self.path}: ?{role}={given} carries {topics[given]}, expected "
                                   f"{' or '.join(ros.IMAGE_TYPES)}; its image topics: {listed}")
            return given
        found = next((name for name in defaults if topics.get(name) in ros.IMAGE_TYPES), None)
        if found is not None:
            return found
        if role == "depth":
            raise AmfEdgeError(
                f"{self.path}: no depth registered to colour (realsense-ros: {' or '.join(defaults)}, published with "
                f"align_depth.enable:=true); image topics in the bag: {listed}. Record the aligned depth topic, or "
                f"{fix} with a depth topic of the colour image's size")
        raise AmfEdgeError(f"{self.path}: none of realsense-ros's colour topics ({', '.join(defaults[:2])}) is in the "
                           f"bag; its image topics: {listed}; {fix}")

    def _info_topic(self, given: str | None, topics: dict) -> str | None:
        if given is None:
            base = self.color_topic.removesuffix("/compressed").rpartition("/")[0]
            candidate = f"{base}/camera_info"
            return candidate if topics.get(candidate) == ros.CAMERA_INFO else None
        if topics.get(given) != ros.CAMERA_INFO:
            what = f"carries {topics[given]}" if given in topics else "is not a topic of this bag"
            infos = ", ".join(sorted(n for n, t in topics.items() if t == ros.CAMERA_INFO)) or "none"
            raise AmfEdgeError(f"{self.path}: ?info={given} {what}; expected a {ros.CAMERA_INFO} topic, "
                               f"the bag has: {infos}")
        return given

    def _connections(self, *topics: str | None) -> list:
        return [c for c in self.reader.connections if c.topic in topics]

    def _half_interval(self) -> float:
        """Half the colour topic's mean frame interval: pairs closer than it are each other's nearest frames."""
        count = self.reader.topics[self.color_topic].msgcount
        span_s = self.reader.duration / ros.NS
        if count < 2 or not span_s > 0:
            return FALLBACK_MAX_DT
        return span_s / (count - 1) / 2

    def _first_intrinsics(self) -> Intrinsics | None:
        """The first CameraInfo, read ahead: drivers publish it after the image, and frame 0 should have it too."""
        if self.info_topic is None:
            return None
        for _connection, info, _stamp in self._messages(self._connections(self.info_topic)):
            return self._intrinsics(info)
        return None

    # -- reading ---------------------------------------------------------------------------------------

    def _messages(self, connections: list) -> Iterator[tuple[object, object, int]]:
        """(connection, message, stamp in nanoseconds) in the bag's order; a damaged file becomes one clear error.

        The stamp is header.stamp, or the bag's receive time where a driver left the stamp 0.
        """
        messages = self.reader.messages(connections=connections)
        done = 0
        try:
            for connection, t_ns, raw in messages:
                msg = self.reader.deserialize(raw, connection.msgtype)
                done += 1
                yield connection, msg, ros.stamp_ns(msg.header) or t_ns
        except self.errors as e:
            topics = ", ".join(sorted({c.topic for c in connections}))
            raise AmfEdgeError(f"{self.path} is damaged after {done} readable message(s) of {topics} "
                               f"({type(e).__name__}: {e}); {REPAIR[bag_kind(self.path)]}") from None
        finally:
            messages.close()

    def _intrinsics(self, info: object) -> Intrinsics | None:
        self._info_size = (int(info.height), int(info.width))
        return ros.intrinsics(info)

    def _one_pass(self) -> Iterator[Frame]:
        if self._passes:
            self.sync.reset()  # the next pass starts the message counts again
        self._passes += 1
        counts = {"color": 0, "depth": 0}
        streams = {self.color_topic: "color", self.depth_topic: "depth"}
        connections = self._connections(self.color_topic, self.depth_topic, self.info_topic)
        for connection, msg, stamp in self._messages(connections):
            if connection.topic == self.info_topic:
                self.intrinsics = self._intrinsics(msg)
                continue
            stream = streams[connection.topic]
            counts[stream] += 1
            payload = (msg, connection.msgtype, stamp)
            for color, depth in self.sync.push(stream, counts[stream], stamp / ros.NS, payload):
                yield self._frame(color, depth)
        self.sync.finish()
        stats = self.sync.stats
        if stats.unmatched_color or stats.unmatched_depth:  # frames in the bag that no output will show: say so
            log.warning("%s: %d colour and %d depth frame(s) found no partner within max_dt=%.4g s and were skipped; "
                        "raise ?max_dt= if the streams' stamps lie further apart", self.path, stats.unmatched_color,
                        stats.unmatched_depth, self.max_dt)

    def _frame(self, color: Stamped, depth: Stamped) -> RosFrame:
        (color_msg, color_type, stamp), (depth_msg, depth_type, _) = color.payload, depth.payload
        rgb = ros.color_image(color_msg, color_type, self.color_topic)
        counts = ros.depth_image(depth_msg, depth_type, self.depth_topic, self.depth_unit)
        if rgb.shape[:2] != counts.shape:
            raise AmfEdgeError(
                f"{self.path}: colour {self.color_topic} is {rgb.shape[1]}×{rgb.shape[0]} but depth {self.depth_topic} "
                f"is {counts.shape[1]}×{counts.shape[0]} (width×height); the model needs depth registered to colour "
                "at the same size: pick the aligned depth topic (realsense-ros: aligned_depth_to_color/image_raw, "
                "align_depth.enable:=true) with ?depth=")
        if self.intrinsics is not None and self._info_size != rgb.shape[:2]:
            h, w = self._info_size
            raise AmfEdgeError(f"{self.path}: camera info {self.info_topic} describes {w}×{h} images but colour "
                               f"{self.color_topic} is {rgb.shape[1]}×{rgb.shape[0]}; pass the colour camera's "
                               "info topic with ?info=")
        sample = RGBDSample(rgb, counts, self.depth_unit, intrinsics=self.intrinsics)
        if self.size is not None:
            sample = resize_for_model(sample, *self.size)
        self.delivered += 1
        return RosFrame(sample, color.number - 1, color.timestamp_s, time.perf_counter(),
                        frame_id=str(color_msg.header.frame_id), stamp_ns=stamp)

    def __iter__(self) -> Iterator[Frame]:
        return looped(self._one_pass, self.loop)

    def stats(self) -> dict:
        return {**self.sync.stats.to_dict(), "frames": self.delivered, "max_dt_s": round(self.max_dt, 6),
                "color_topic": self.color_topic, "depth_topic": self.depth_topic, "info_topic": self.info_topic}

    def close(self) -> None:
        reader, self.reader = getattr(self, "reader", None), None
        if reader is not None and reader.stack is not None:
            reader.close()

