"""RealSense cameras (`realsense://`) and their recordings (`bag://`), both through `amf_edge.runtime.realsense`.

    realsense://[SERIAL]?width=640&height=480&fps=30[&max_dt=S]
        A live camera (the only one connected, or the one with SERIAL): colour rgb8 and depth z16 at the
        same size and rate, depth aligned to colour, the camera's own timestamps (their clock, e.g.
        global_time or hardware_clock, is in stats()), its depth unit and the colour intrinsics. Frames
        the reader is too slow for are dropped (newest wins) and counted.
    bag://FILE.bag|FILE.db3[?realtime=1&max_dt=S&width=W&height=H&loop=1]
        A recording: ROS1 .bag (librealsense ≤ 2.57, uncompressed or LZ4) or rosbag2 .db3 (librealsense
        ≥ 2.58, `amf-edge record`). Played as fast as the reader reads, losing nothing; realtime=1 plays
        at the recorded speed and drops what the reader misses, like a camera.
        A recording librealsense cannot open because it is cut off or damaged (power lost while recording)
        plays from a copy of what comes before the damage (amf_edge.runtime.salvage, in the temporary folder,
        removed at close); then, losing nothing being the promise, the stream ends in an error that says
        what was played and what was lost. With realtime=1 (frames may be lost anyway) it ends normally and
        `stats()["damaged"]` says so. The same for a file librealsense opens but stops playing early, at a
        record it cannot parse (amf_edge.runtime.realsense: the last frame's position against the duration).

max_dt is the colour/depth pairing tolerance (default half a frame period). Frame.index is the colour
frame number, so gaps show frames the device or the pairing dropped; `stats()` counts them.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.realsense import RealSenseReader, choose_streams, describe_device, find_camera, import_rs
from amf_edge.runtime.salvage import NotSalvageable, Salvage, salvage
from amf_edge.runtime.sources.base import Source
from amf_edge.runtime.sources.common import (
    FILE_OPTIONS,
    MAX_DT,
    SIZE,
    looped,
    output_size,
    parse_uri,
    positive_int,
    resize_for_model,
)
from amf_edge.runtime.sync import StreamSynchronizer
from amf_edge.uri import FLAG

CAMERA_OPTIONS = {"width": SIZE, "height": SIZE, "fps": (positive_int, "frames per second, e.g. 30"), "max_dt": MAX_DT}
CAMERA_DEFAULTS = {"width": 640, "height": 480, "fps": 30}
BAG_OPTIONS = {**FILE_OPTIONS, "realtime": FLAG, "max_dt": MAX_DT}
RECORDING_SUFFIXES = (".bag", ".db3")


def parse_camera_uri(uri: str) -> tuple[str | None, dict[str, object]]:
    """`realsense://[SERIAL]?...` → (serial or None, options with the defaults filled in)."""
    serial, options = parse_uri(uri, "realsense", CAMERA_OPTIONS, "realsense://?width=640&height=480&fps=30")
    return serial or None, {**CAMERA_DEFAULTS, **options}


class RealSenseSource(Source):
    """A live RealSense camera; `device` lets tests (and embedders) pass an `rs.device` of their own."""

    scheme = "realsense"
    live = True

    def __init__(self, uri: str, device: object | None = None):
        super().__init__(uri)
        serial, options = parse_camera_uri(uri)
        self.device = device if device is not None else find_camera(serial)
        what = f"camera {describe_device(self.device)}"
        depth, color = choose_streams(self.device, width=options["width"], height=options["height"],
                                      fps=options["fps"], color_formats=("rgb8",), what=what)
        self.reader = RealSenseReader(self.device, depth, color, live=True, max_dt=options.get("max_dt"), what=what)

    def __iter__(self) -> Iterator[Frame]:
        return self.reader.frames()

    def stats(self) -> dict:
        return self.reader.stats()

    def close(self) -> None:
        self.reader.close()


class BagSource(Source):
    scheme = "bag"

    def __init__(self, uri: str):
        super().__init__(uri)
        location, options = parse_uri(uri, "bag", BAG_OPTIONS, "bag://recordings/kitchen.db3", location="file")
        self.path = Path(location)
        if self.path.suffix.lower() not in RECORDING_SUFFIXES or not self.path.is_file():
            problem = "does not exist" if not self.path.exists() else "is not a .bag or .db3 file"
            raise AmfEdgeError(f"bag://{location}: {self.path} {problem}; expected a RealSense recording, FILE.bag "
                               "(ROS1, librealsense ≤ 2.57) or FILE.db3 "
                               "(rosbag2, librealsense ≥ 2.58 or amf-edge record)")
        self.live = bool(options.get("realtime", False))
        self.size = output_size(uri, options)
        self.loop = bool(options.get("loop", False))
        self.resize = bool(options.get("resize", True))
        self.max_dt = options.get("max_dt")
        self.sync: StreamSynchronizer | None = None
        self.delivered = 0
        self._dropped_before = 0  # by the readers of earlier passes
        self.salvage: Salvage | None = None  # a damaged recording: what of it plays (see the module docstring)
        self._salvage_dir: Path | None = None
        self._load_error = ""
        self._reader = self._open()  # open now: a bad file is an error of open_source, not of the first frame
        self._passes = 0

    def _open(self) -> RealSenseReader:
        rs = import_rs()
        self._context = rs.context()  # the playback device lives in this context; keep it alive with it
        device = self._load_device()
        what = f"recording {self.path}"
        depth, color = choose_streams(device, what=what)
        reader = RealSenseReader(device, depth, color, live=self.live, max_dt=self.max_dt, what=what, sync=self.sync)
        self.sync = reader.sync
        return reader

    def _load_device(self) -> object:
        """The playback device: of the file, or of the playable copy of it when librealsense refuses the file
        (made once, on the first refusal: a looped recording plays the same copy every pass)."""
        copy = self._salvage_dir / f"salvaged{self.path.suffix}" if self._salvage_dir is not None else None
        if copy is not None:
            return self._context.load_device(str(copy))
        try:
            return self._context.load_device(str(self.path))
        except RuntimeError as e:
            self._load_error = str(e)
        self._salvage_dir = Path(tempfile.mkdtemp(prefix="amf-edge-salvage-"))
        copy = self._salvage_dir / f"salvaged{self.path.suffix}"
        try:
            self.salvage = salvage(self.path, copy)
            return self._context.load_device(str(copy))
        except (NotSalvageable, RuntimeError, OSError) as why:
            self.close()
            raise AmfEdgeError(f"librealsense cannot play {self.path} ({self._load_error}), and no frame can be "
                               f"recovered from it: {why}. Expected an uncompressed or LZ4 ROS1 .bag or a rosbag2 "
                               ".db3 written by librealsense") from None

    def _damage_error(self) -> AmfEdgeError:
        return AmfEdgeError(f"recording {self.path} is {self.salvage.describe()} (librealsense: {self._load_error}); "
                            f"played the {self.delivered} frames before the damage, the rest is lost. Play it with "
                            "?realtime=1 to take what is there without this error")

    def _one_pass(self) -> Iterator[Frame]:
        if self._passes:
            # librealsense plays a file once per device: reload it. The next pass repeats the frame numbers,
            # which the synchronizer must take as new again.
            self._reader.close()
            self._dropped_before += self._reader.dropped
            self.sync.reset()
            self._reader = self._open()
        self._passes += 1
        frames = self._reader.frames()
        try:
            for frame in frames:
                if self.size is not None:
                    frame = dataclasses.replace(frame, sample=resize_for_model(frame.sample, *self.size))
                self.delivered += 1
                yield frame
        finally:
            frames.close()  # stops the sensors now, not when the generator is collected
        if self.salvage is not None and not self.live:  # every frame there is was handed on: now say what is lost
            raise self._damage_error()

    def __iter__(self) -> Iterator[Frame]:
        return looped(self._one_pass, self.loop)

    def stats(self) -> dict:
        stats = {**self._reader.stats(), "frames": self.delivered,
                 "dropped": self._dropped_before + self._reader.dropped}
        if self.salvage is not None:
            stats["damaged"] = {"what": self.salvage.describe(), "messages_recovered": self.salvage.messages}
        elif self._reader.ended_early is not None:  # real-time replay: noted, not an error
            stats["damaged"] = {"what": self._reader.ended_early}
        return stats

    def close(self) -> None:
        if getattr(self, "_reader", None) is not None:
            self._reader.close()
        if self._salvage_dir is not None:
            shutil.rmtree(self._salvage_dir, ignore_errors=True)
            self._salvage_dir = None
