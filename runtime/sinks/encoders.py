"""Video encoders for `video://`: H.264 with PyAV where it is installed, else OpenCV's FFmpeg writer.

Both take BGR frames with their presentation time in seconds and write into a temporary file that the
sink renames once it is finished. They differ in what they can promise:

- `PyAVEncoder` (the `av` wheel bundles libx264): H.264 in MP4 or Matroska, which browsers play; the
  frame's time becomes its presentation timestamp, so a video plays at the rate its frames were captured
  (a live camera's drops are longer frames, not a faster video). The bytes go through `CheckedFile`, so
  every failed write is seen. x264's zerolatency tuning hands out each frame's packet at once: a frame the
  sink counts is in the file, none waits in the encoder.
- `OpenCVEncoder`: OpenCV writes the file itself and reports no failed write, and it has one frame rate
  per file, taken from the first frames' times. The sink checks free space before each frame and counts
  the frames in the finished file instead.
"""

from __future__ import annotations

import errno
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from amf_edge.runtime.sinks.files import Reserve, free_bytes

TIME_BASE = Fraction(1, 90000)  # the MPEG clock: a 30 or 29.97 Hz frame time is a whole number of ticks
X264 = {"preset": "veryfast", "tune": "zerolatency"}  # real time on a small CPU; no frame held back
H264_ENCODERS = ("libx264", "libopenh264")  # the first one this FFmpeg build has
# OpenCV's writers buffer what they write and flush it in pieces (256 kB seen for Motion JPEG .avi): a piece
# that does not fit is lost, and so is the rest of the file, unseen.
WRITE_BUFFER = 1 << 20
RATE_FRAMES = 10  # frames OpenCV's writer waits for to measure the frame rate (it has one rate per file)


def frame_bound(height: int, width: int) -> int:
    """A generous upper bound of one encoded frame's bytes: the raw 24-bit picture (codecs compress)."""
    return height * width * 3 + 4096


class CheckedFile:
    """The file PyAV writes into: every write checked. When the disk fills, the reserve is freed and the
    write retried once, so the frame being written and the file's index still fit; `full` then tells the
    sink to stop after this frame."""

    def __init__(self, path: Path, reserve: Reserve):
        self.path, self.reserve = path, reserve
        self.fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.full = False
        self.error: OSError | None = None  # the first failed write: the file cannot be finished

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT) and self.reserve.release():
                    self.full = True  # go on from where the disk filled, into the freed space
                    continue
                self.error = self.error or e
                raise
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self.fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def flush(self) -> None:
        pass  # nothing buffered here: write hands every byte to the kernel

    def sync_and_close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                os.fsync(fd)  # the finished video is durable before it takes its final name
            finally:
                os.close(fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def h264_encoder(av) -> str | None:
    """The name of an H.264 encoder this PyAV build has, or None."""
    for name in H264_ENCODERS:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # PyAV raises its own UnknownCodecError (an FFmpegError) or ValueError by version
            continue
    return None


class PyAVEncoder:
    codec = "H.264"

    def __init__(self, av, encoder: str, path: Path, fmt: str, height: int, width: int, fps: float | None,
                 reserve: Reserve):
        self.av, self.path, self.fps = av, path, fps
        self.file = CheckedFile(path, reserve)
        try:
            self.container = av.open(self.file, "w", format=fmt)
            # The rate, when constant, also goes into the container's header (Matroska's default duration).
            rate = Fraction(fps).limit_denominator(1001) if fps else None
            self.stream = self.container.add_stream(encoder, rate=rate,
                                                    options=dict(X264) if encoder == "libx264" else {})
            self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
            self.stream.codec_context.time_base = TIME_BASE
            self.stream.time_base = TIME_BASE
        except BaseException:
            self.file.close()
            raise
        self._last_pts = -1

    @property
    def full(self) -> bool:
        return self.file.full

    def write(self, image: np.ndarray, seconds: float) -> None:
        frame = self.av.VideoFrame.from_ndarray(image, format="bgr24")
        pts = max(round(seconds / TIME_BASE), self._last_pts + 1)  # strictly increasing, whatever the clock did
        # A frame lasts until the next one; the last one's length is known only from the rate, or guessed as
        # the interval before it (else a 7-frame clip at 15 fps would report 15.8).
        if self.fps:
            ticks = round(1 / self.fps / TIME_BASE)
        else:
            ticks = pts - self._last_pts if self._last_pts >= 0 else round(1 / 30 / TIME_BASE)
        frame.pts, frame.time_base, self._last_pts = pts, TIME_BASE, pts
        packets = self.stream.encode(frame)
        for packet in packets:
            packet.duration = ticks
        self.container.mux(packets)

    def finish(self) -> None:
        """Flush the encoder and write the index; the file is closed and synced. Raises OSError."""
        try:
            self.container.mux(self.stream.encode(None))
            self.container.close()  # the MP4 index (moov) goes at the end: without it the file does not play
        finally:
            if self.file.error is not None:
                self.file.close()
                raise self.file.error
        self.file.sync_and_close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass  # the write error that brought us here is the one reported
        self.file.close()

    def count(self, exact: bool = False) -> int | None:
        """Frames in the finished file, from its index (an MP4's is exact: `exact` changes nothing); None
        where the container keeps no count (Matroska): every write was checked on its way."""
        with self.av.open(str(self.path)) as container:
            return container.streams.video[0].frames or None


class OpenCVEncoder:
    """OpenCV's writer, opened once the frame rate is known: `fps` when given, else measured from the
    times of the first RATE_FRAMES frames (held until then)."""

    def __init__(self, cv2, fourcc: str, codec: str, path: Path, height: int, width: int, fps: float | None,
                 reserve: Reserve):
        self.cv2, self.fourcc, self.codec, self.path = cv2, fourcc, codec, path
        self.size, self.fps, self.reserve = (width, height), fps, reserve
        self.full = False
        self.writer = None
        self._held: list[tuple[np.ndarray, float]] = []
        self._check_opens()

    def _check_opens(self) -> None:
        """Open a writer once now so that a missing codec fails at open, not after the first frames."""
        self._open(self.fps or 30.0)
        self.writer.release()
        self.writer = None
        self.path.unlink(missing_ok=True)

    def _open(self, fps: float) -> None:
        cv2 = self.cv2
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), fps, self.size)
        if not self.writer.isOpened():
            self.writer = None
            raise ValueError(f"{self.fourcc}, {self.size[0]}×{self.size[1]} at {fps:g} fps")

    def write(self, image: np.ndarray, seconds: float) -> None:
        # OpenCV reports no failed write: make sure the frame (and those held for the rate) fits first, with
        # a frame to spare (a JPEG of noise outgrows the raw picture) and the writer's buffer, flushed whole.
        needed = frame_bound(self.size[1], self.size[0]) * (len(self._held) + 2) + WRITE_BUFFER
        if free_bytes(self.path.parent) < needed:
            self.full = True
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if self.writer is None:
            self._held.append((image, seconds))
            if len(self._held) < RATE_FRAMES:
                return
            self._start()
            return
        self.writer.write(image)

    def _start(self) -> None:
        held, self._held = self._held, []
        span = held[-1][1] - held[0][1] if len(held) > 1 else 0.0
        self._open(self.fps or ((len(held) - 1) / span if span > 0 else 30.0))
        for image, _ in held:
            self.writer.write(image)

    def finish(self) -> None:
        self.reserve.release()  # for the index, which goes at the end
        if self.writer is None and self._held:
            self._start()
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None

    def count(self, exact: bool = False) -> int | None:
        """Frames in the finished file: from its header, or (`exact`) by reading through it, for containers
        whose header count is an estimate from duration × rate."""
        capture = self.cv2.VideoCapture(str(self.path))
        try:
            if not capture.isOpened():
                return 0
            if not exact:
                return int(capture.get(self.cv2.CAP_PROP_FRAME_COUNT))
            n = 0
            while capture.grab():  # no decoding: only the packets are read
                n += 1
            return n
        finally:
            capture.release()
