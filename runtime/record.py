"""Recording a RealSense camera's depth and colour streams into a rosbag2 .db3 file (`amf-edge record`).

`Recorder` drives librealsense's own recorder (intrinsics, extrinsics, depth unit, timestamps, frame
numbers), so `bag://FILE.db3` replays a recording exactly as the camera delivered it, frame by frame.
librealsense ≥ 2.58 writes only .db3 (older .bag recordings still play): `check_recording_path`.
"""

from __future__ import annotations

import time
from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.realsense import COLOR_FORMATS, choose_streams, import_rs
from amf_edge.runtime.sinks.files import check_folder_writable, free_bytes

RECORDING_SUFFIX = ".db3"
# librealsense writes the file on its own threads and reports no failed write (a full disk leaves a database
# that may not open), so the recording stops while this much space is left, or 2 s of recording if more:
# enough for the database to write what it holds and close cleanly.
MIN_FREE_BYTES = 16 << 20
FREE_SECONDS = 2.0


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
    check_folder_writable(f"cannot record {path}", path.parent)
    free = free_bytes(path.parent)
    if free < MIN_FREE_BYTES:
        raise AmfEdgeError(f"cannot record {path}: only {free // 1024} kB free in {path.parent}, and a recording "
                           f"stops below {MIN_FREE_BYTES >> 20} MB; free space or record to another disk")
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
                 fps: int | None = None, compress: bool = True, overwrite: bool = False,
                 what: str = "the camera") -> None:
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
        `progress(recorder)` is called every `poll_s`. A device that sends nothing for `stall_s` is an error,
        and so is a disk about to fill (`check_space`)."""
        self.check_space()
        seen, seen_at = sum(self.counts.values()), time.monotonic()
        while not ((frames is not None and self.frames >= frames)
                   or (seconds is not None and self.elapsed_s >= seconds)):
            time.sleep(poll_s)
            self.check_space()
            if progress is not None:
                progress(self)
            if sum(self.counts.values()) != seen:
                seen, seen_at = sum(self.counts.values()), time.monotonic()
            elif time.monotonic() - seen_at > stall_s:
                raise AmfEdgeError(f"no frame from {self.what} for {stall_s:g} s (depth {self.counts['depth']}, colour "
                                   f"{self.counts['color']} so far); the recording up to here is kept in {self.path}")

    def check_space(self) -> None:
        """Raise AmfEdgeError while the disk still has room to close the file cleanly: below MIN_FREE_BYTES,
        or FREE_SECONDS of recording at the rate the file grew so far, whichever is more."""
        try:
            free, size = free_bytes(self.path.parent), self.path.stat().st_size if self.path.exists() else 0
        except OSError:
            return  # no statvfs here (some network filesystems): nothing to judge by
        rate = size / self.elapsed_s if self.elapsed_s > 0 else 0.0
        needed = max(MIN_FREE_BYTES, int(FREE_SECONDS * rate))
        if free < needed:
            raise AmfEdgeError(f"the disk holding {self.path} is nearly full ({free // 1024} kB left): the recording "
                               f"stopped after {self.frames} frames and is complete up to there; free space or "
                               "record to another disk")

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
