"""Record a RealSense camera's depth and colour streams into a rosbag2 .db3 file for later replay.

The recording is what librealsense's own recorder writes (intrinsics, extrinsics, depth unit,
timestamps, frame numbers), so `bag://FILE.db3` replays it exactly as the camera delivered it, frame by
frame. librealsense ≥ 2.58 writes only .db3 (older .bag recordings still play). Without --seconds or
--frames the recording runs until Ctrl-C; Ctrl-C always leaves a complete file.

examples:
  amf-edge record realsense:// kitchen.db3 --seconds 10
  amf-edge record "realsense://123456789012?width=848&height=480&fps=30" desk.db3 --frames 300
  amf-edge record realsense:// long.db3                   # until Ctrl-C
  amf-edge record realsense:// raw.db3 --no-compression   # no PNG: bigger file, less CPU while recording
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from amf_edge.arguments import bounded
from amf_edge.errors import AmfEdgeError
from runtime import realsense
from runtime.realsense import COLOR_FORMATS, choose_streams, import_rs
from runtime.sources.realsense import parse_camera_uri

HELP = "record a RealSense camera to a .db3 file for replay with bag://"

RECORDING_SUFFIX = ".db3"


def check_recording_path(path: str | Path, overwrite: bool = False) -> Path:
    """The output of a recording: a .db3 file in an existing folder, not overwritten unless asked."""
    path = Path(path)
    if path.suffix.lower() == ".bag":
        raise AmfEdgeError(f"cannot record {path}: librealsense ≥ 2.58 writes only rosbag2 .db3 files, not ROS1 .bag; "
                           f"name the output {path.with_suffix(RECORDING_SUFFIX).name} (bag:// plays both)")
    if path.suffix.lower() != RECORDING_SUFFIX:
        raise AmfEdgeError(f"cannot record {path}: expected an output file name ending in .db3, e.g. kitchen.db3")
    if not path.parent.is_dir():
        raise AmfEdgeError(f"cannot record {path}: folder {path.parent} does not exist; create it first")
    if path.exists() and not overwrite:
        raise AmfEdgeError(f"{path} exists; pass --overwrite to replace it or choose another name")
    return path


class Recorder:
    """Records a device's depth and colour streams into a .db3 with librealsense's `rs.recorder`.

    Use as a context manager: the sensors start on entry, and on exit (Ctrl-C included) they stop and
    the recorder is released, which completes the file. Frame counts come from the recorder's own
    callbacks, so they are frames that reached the file.

    Args:
        device: a camera or an `rs.software_device` (tests).
        path: the .db3 to write (`check_recording_path`).
        width, height, fps: the camera mode; None records what the device offers.
        compress: let librealsense store the images as PNG (lossless: smaller files for more CPU).
    """

    def __init__(self, device: object, path: str | Path, *, width: int | None = None, height: int | None = None,
                 fps: int | None = None, compress: bool = True, overwrite: bool = False, what: str = "the camera") -> None:
        rs = import_rs()
        self.path = check_recording_path(path, overwrite)
        if self.path.exists():
            self.path.unlink()  # overwrite=True was checked above; librealsense would append to an existing database
        try:
            self._recorder = rs.recorder(str(self.path), device, compress)
        except RuntimeError as e:
            raise AmfEdgeError(f"librealsense cannot record to {self.path}: {e}") from None
        formats = ("rgb8",) if width is not None else COLOR_FORMATS
        try:
            self.depth, self.color = choose_streams(self._recorder, width=width, height=height, fps=fps,
                                                    color_formats=formats, what=what)
        except AmfEdgeError:
            self._recorder = None  # completes the empty file, which then goes: it holds no recording
            self.path.unlink(missing_ok=True)
            raise
        self.what = what
        self.counts = {"depth": 0, "color": 0}
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self._started: list[object] = []

    def _counter(self, stream: str):
        def count(frame: object) -> None:
            self.counts[stream] += 1
        return count

    def start(self) -> Recorder:
        try:
            for stream, choice in (("depth", self.depth), ("color", self.color)):
                choice.sensor.open(choice.profile)
                self._started.append(choice.sensor)
                choice.sensor.start(self._counter(stream))
        except RuntimeError as e:
            self.close()
            raise AmfEdgeError(f"librealsense cannot start {self.what}: {e}; is another program using it?") from None
        self.started_at = time.monotonic()
        return self

    @property
    def frames(self) -> int:
        """Complete frame pairs so far: the smaller of the depth and colour counts."""
        return min(self.counts.values())

    @property
    def elapsed_s(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.stopped_at or time.monotonic()) - self.started_at

    def wait(self, *, frames: int | None = None, seconds: float | None = None, progress=None, poll_s: float = 0.1,
             stall_s: float = 10.0) -> None:
        """Return once `frames` pairs or `seconds` are recorded (whichever comes first); with neither, wait
        for Ctrl-C (KeyboardInterrupt propagates; leaving the `with` block still completes the file).
        `progress(recorder)` is called every `poll_s`. A device that sends nothing for `stall_s` is an error."""
        seen, seen_at = sum(self.counts.values()), time.monotonic()
        while not ((frames is not None and self.frames >= frames) or (seconds is not None and self.elapsed_s >= seconds)):
            time.sleep(poll_s)
            if progress is not None:
                progress(self)
            if sum(self.counts.values()) != seen:
                seen, seen_at = sum(self.counts.values()), time.monotonic()
            elif time.monotonic() - seen_at > stall_s:
                raise AmfEdgeError(f"no frame from {self.what} for {stall_s:g} s (depth {self.counts['depth']}, colour "
                                   f"{self.counts['color']} so far); the recording up to here is kept in {self.path}")

    def close(self) -> None:
        if self.started_at is not None and self.stopped_at is None:
            self.stopped_at = time.monotonic()
        for sensor in self._started:
            for step in (sensor.stop, sensor.close):
                try:
                    step()
                except RuntimeError:
                    pass  # never started: nothing to release
        self._started = []
        # librealsense finishes the file when the last reference to the recording device goes away: ours,
        # and the sensors', which hold the device too.
        self.depth = self.color = None
        self._recorder = None

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


# argparse types: amf_edge.arguments.bounded, as every command's
_positive_float = bounded(float, 0, "a number of seconds > 0", strict=True)
_positive_int = bounded(int, 1, "a number of frames ≥ 1")


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="the camera: realsense://[SERIAL][?width=640&height=480&fps=30]")
    parser.add_argument("output", help="the recording to write, FILE.db3")
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--seconds", type=_positive_float, help="stop after this many seconds")
    limit.add_argument("--frames", type=_positive_int,
                       help="stop once this many depth + colour frame pairs are recorded (a camera may add a few more)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    parser.add_argument("--no-compression", action="store_true", help="store images uncompressed")


def progress_printer(stream=None, every_s: float = 0.5) -> Callable[[Recorder], None]:
    """A progress line on `stream` (default stderr), rewritten in place: frames, seconds, rate, file size."""
    stream = stream or sys.stderr
    last = [0.0]

    def show(rec: Recorder) -> None:
        now = time.monotonic()
        if now - last[0] < every_s:
            return
        last[0] = now
        size = rec.path.stat().st_size / 1e6 if rec.path.exists() else 0.0
        rate = rec.frames / rec.elapsed_s if rec.elapsed_s > 0 else 0.0
        stream.write(f"\rrecording {rec.path}: {rec.frames} frames, {rec.elapsed_s:.1f} s, {rate:.1f} fps, {size:.1f} MB ")
        stream.flush()

    return show


def run(args: argparse.Namespace) -> int:
    if not args.source.startswith("realsense://"):
        raise AmfEdgeError(f"record takes a camera URI realsense://[SERIAL]?width=&height=&fps=, got {args.source!r}")
    check_recording_path(args.output, args.overwrite)  # before touching the camera: a bad name fails fast
    serial, options = parse_camera_uri(args.source)
    if "max_dt" in options:
        raise AmfEdgeError("max_dt is a pairing option of playback; a recording keeps both streams unpaired, drop it")
    device = realsense.find_camera(serial)
    what = f"camera {realsense.describe_device(device)}"
    print(f"recording {what} at {options['width']}×{options['height']}@{options['fps']} to {args.output}; "
          "Ctrl-C stops", file=sys.stderr)
    interrupted = False
    with Recorder(device, args.output, width=options["width"], height=options["height"], fps=options["fps"],
                  compress=not args.no_compression, overwrite=args.overwrite, what=what) as rec:
        try:
            rec.wait(frames=args.frames, seconds=args.seconds, progress=progress_printer())
        except KeyboardInterrupt:
            interrupted = True  # leaving the with block completes the file
    size = Path(args.output).stat().st_size / 1e6
    print(f"\n{'stopped by Ctrl-C; ' if interrupted else ''}saved {rec.frames} frames ({rec.elapsed_s:.1f} s, "
          f"{size:.1f} MB) to {args.output}; replay with bag://{args.output}", file=sys.stderr)
    return 0
