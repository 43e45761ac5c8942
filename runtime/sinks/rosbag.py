"""`rosbag://OUT.mcap|OUT.db3|OUT[?storage=sqlite3&prefix=/amf_edge&overlay=1&frame_id=NAME]`: results as a ROS 2
bag (rosbag2, written with rosbags; the `ros` extra), for `ros2 bag play`, rviz2, Foxglove and the robot's tools.

    rosbag://out.mcap   the folder out/ with out.mcap and metadata.yaml (what `ros2 bag record -s mcap -o out` makes)
    rosbag://out.db3    the folder out/ with out.db3 (sqlite3: ROS 2 Humble's default storage, read without plugins)
    rosbag://out        the folder out/ with ?storage=sqlite3 (default) or ?storage=mcap

Topics, one message each per frame:

    PREFIX/labels       sensor_msgs/Image mono8: the class id of every pixel
    PREFIX/overlay      sensor_msgs/Image bgr8: the class colours blended over the frame (?overlay=0 leaves it out)
    PREFIX/camera_info  sensor_msgs/CameraInfo: the frames' size and K (all zero, ROS's "uncalibrated", when the
                        source has no intrinsics)

PREFIX is /amf_edge unless ?prefix= says otherwise. header.stamp and the bag's time are the source frame's
timestamp, so results line up with the recording they came from; header.frame_id is ?frame_id=, else the source's
(a rosbag:// source passes its colour frame_id on), else camera_color_optical_frame (realsense-ros's colour
optical frame). The class names and palette go into metadata.yaml's custom_data (`amf_edge.classes`, JSON).

The bag is written into OUT.partial/ and moved to OUT at close, so a bag under the final name is complete; an
existing OUT is an error (as for `ros2 bag record`). When a write fails the run stops, and the frames written
before are closed into a readable bag under the final name.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime import ros
from amf_edge.runtime.sinks.base import Result, RunReport, Sink, SinkContext
from amf_edge.runtime.sinks.views import render
from amf_edge.uri import FLAG, choice, parse_uri

log = logging.getLogger(__name__)

ROS_NAME = re.compile(r"(/[A-Za-z_][A-Za-z0-9_]*)+")
STORAGES = {".db3": "sqlite3", ".mcap": "mcap"}
DEFAULT_FRAME_ID = "camera_color_optical_frame"
EXAMPLE = "rosbag://runs/segmented.mcap?prefix=/segmentation"


def _ros_name(text: str) -> str:
    if not ROS_NAME.fullmatch(text):
        raise ValueError
    return text


def _frame_id(text: str) -> str:
    if not text or not re.fullmatch(r"[A-Za-z0-9_/]+", text):
        raise ValueError
    return text


OPTIONS = {"storage": choice(*STORAGES.values()),
           "prefix": (_ros_name, "a ROS name such as /amf_edge or /robot/segmentation (letters, digits, _ and /)"),
           "overlay": FLAG,
           "frame_id": (_frame_id, "a TF frame name such as camera_color_optical_frame")}


def write_errors() -> tuple[type[BaseException], ...]:
    """What writing can raise besides our own errors: the disk (OSError) and the storage libraries."""
    apsw = importlib.import_module("apsw")  # rosbags' sqlite3 backend, a dependency of rosbags
    return ros.rosbags("rosbag2").WriterError, apsw.Error, sqlite3.Error, OSError


class RosbagSink(Sink):
    scheme = "rosbag"

    def __init__(self, uri: str):
        super().__init__(uri)
        location, options = parse_uri(uri, "rosbag", OPTIONS, EXAMPLE, location="file")
        given = Path(location.rstrip("/"))
        suffix = given.suffix.lower()
        self.storage = STORAGES.get(suffix, options.get("storage", "sqlite3"))
        if suffix in STORAGES and options.get("storage", self.storage) != self.storage:
            raise AmfEdgeError(f"{uri!r}: the name says {self.storage} ({suffix}) but ?storage={options['storage']}; "
                               "drop one of them")
        self.path = given.with_suffix("") if suffix in STORAGES else given  # rosbag2 is a folder named without it
        if not self.path.name:
            raise AmfEdgeError(f"{uri!r} names no bag; write e.g. {EXAMPLE!r}")
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.prefix = options.get("prefix", "/amf_edge")
        self.overlay = options.get("overlay", True)
        self.frame_id = options.get("frame_id")
        self.writer = None
        self._check_free()  # now, so that the run stops before the model loads; open checks again

    def _check_free(self) -> None:
        if self.path.exists():
            raise AmfEdgeError(f"{self.uri}: {self.path} exists already; remove it or name another bag "
                               "(a bag is never overwritten)")

    def open(self, context: SinkContext) -> None:
        super().open(context)
        rosbag2 = ros.rosbags("rosbag2")
        self.errors = write_errors()
        self.store = ros.typestore()
        self._check_free()
        if self.partial.exists():  # what a killed run left: never a complete bag
            log.warning("%s: removing %s, the unfinished bag of an earlier run", self.uri, self.partial)
            shutil.rmtree(self.partial, ignore_errors=True)
        plugin = rosbag2.StoragePlugin.MCAP if self.storage == "mcap" else rosbag2.StoragePlugin.SQLITE3
        try:
            self.partial.mkdir(parents=True)
            # Version 8, not rosbags' newest 9, which changed how QoS profiles are written: older ROS 2 readers know 8's
            writer = rosbag2.Writer(self.partial / self.path.name, version=8, storage_plugin=plugin)
            writer.open()
        except self.errors as e:
            shutil.rmtree(self.partial, ignore_errors=True)
            raise AmfEdgeError(f"{self.uri}: cannot create the bag in {self.partial} ({e}); check that the folder "
                               "is writable") from None
        self.writer = writer
        writer.set_custom_data("amf_edge.classes", json.dumps(context.labels.to_dict()))
        topics = {"labels": ros.IMAGE, "camera_info": ros.CAMERA_INFO}
        if self.overlay:
            topics["overlay"] = ros.IMAGE
        self.connections = {name: writer.add_connection(f"{self.prefix}/{name}", msgtype, typestore=self.store)
                            for name, msgtype in topics.items()}

    def write(self, result: Result) -> None:
        frame = result.frame
        stamp = self._stamp_ns(frame)
        header = self._header(stamp, self.frame_id or getattr(frame, "frame_id", "") or DEFAULT_FRAME_ID)
        messages = {"labels": self._image(header, result.labels, "mono8"),
                    "camera_info": self._camera_info(header, frame.sample)}
        if self.overlay:
            messages["overlay"] = self._image(header, render(result, "overlay", self.context), "bgr8")
        try:
            for name, msg in messages.items():
                connection = self.connections[name]
                self.writer.write(connection, stamp, self.store.serialize_cdr(msg, connection.msgtype))
        except self.errors as e:
            raise AmfEdgeError(f"{self.uri}: writing frame {frame.index} failed ({e}); the {self.written} frame(s) "
                               f"before it are kept in {self.path}; check the disk space and permissions") from None
        self.written += 1

    def _stamp_ns(self, frame) -> int:
        # A rosbag:// source hands over its exact integer stamp; the float seconds are used where they moved it
        # (a looped pass) or where the source has none.
        stamp = getattr(frame, "stamp_ns", None)
        if stamp is None or abs(stamp / ros.NS - frame.timestamp_s) > 1e-6:
            stamp = round(frame.timestamp_s * ros.NS)
        if stamp < 0:
            raise AmfEdgeError(f"{self.uri}: frame {frame.index} has a negative timestamp ({frame.timestamp_s} s), "
                               "which a ROS bag cannot store; write results of this source to another sink")
        return stamp

    def _header(self, stamp: int, frame_id: str) -> object:
        m = self.store.types
        sec, nanosec = divmod(stamp, ros.NS)
        return m["std_msgs/msg/Header"](stamp=m["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                                        frame_id=frame_id)

    def _image(self, header: object, pixels: np.ndarray, encoding: str) -> object:
        pixels = np.ascontiguousarray(pixels)
        h, w = pixels.shape[:2]
        return self.store.types[ros.IMAGE](header=header, height=h, width=w, encoding=encoding, is_bigendian=0,
                                           step=pixels.nbytes // h, data=pixels.reshape(-1))

    def _camera_info(self, header: object, sample) -> object:
        m, (h, w), k = self.store.types, sample.size, sample.intrinsics
        K = np.zeros(9) if k is None else np.array([k.fx, 0, k.cx, 0, k.fy, k.cy, 0, 0, 1], np.float64)
        P = np.zeros(12) if k is None else np.array([k.fx, 0, k.cx, 0, 0, k.fy, k.cy, 0, 0, 0, 1, 0], np.float64)
        roi = m["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        return m[ros.CAMERA_INFO](header=header, height=h, width=w, distortion_model="plumb_bob", d=np.zeros(5), k=K,
                                  r=np.eye(3).reshape(-1), p=P, binning_x=0, binning_y=0, roi=roi)

    def close(self, report: RunReport | None = None) -> None:
        writer, self.writer = self.writer, None
        if writer is None:
            return
        try:
            writer.close()  # writes the storage's index and metadata.yaml: only now do ROS tools read the bag
        except self.errors as e:
            writer.abort()
            raise AmfEdgeError(f"{self.uri}: finishing the bag failed ({e}); what was written stays in {self.partial}; "
                               "check the disk space") from None
        try:
            os.replace(self.partial / self.path.name, self.path)
            self.partial.rmdir()
        except OSError as e:
            raise AmfEdgeError(f"{self.uri}: the finished bag is {self.partial / self.path.name} but moving it to "
                               f"{self.path} failed ({e.strerror}); move it by hand") from None

    def stats(self) -> dict:
        return {"written": self.written, "path": str(self.path), "storage": self.storage,
                "topics": [f"{self.prefix}/{name}" for name in ("labels", "overlay", "camera_info")
                           if name != "overlay" or self.overlay]}
