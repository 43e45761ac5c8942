"""`video://out.mp4[?fps=30&view=overlay&fourcc=mp4v]`: the segmentation as a video file.

.mp4 and .mkv are H.264 (PyAV's libx264: browsers play it), at the frames' own times: each frame is shown
from its capture time to the next one's, so a recording plays at its recorded rate and a live camera in
real time, dropped frames included (`?fps=` writes a constant rate instead). Without PyAV, OpenCV writes
VP9 (which browsers also play) at the rate measured on the first frames, and the sink says so once. .avi
is Motion JPEG, and `?fourcc=` picks any codec of OpenCV's FFmpeg build.

Every write is checked. The video is written under a hidden temporary name and takes its final name only
once finished (index written, synced), so a file under the final name always plays. Space for finishing
it is reserved as it grows (`files.Reserve`): when the disk fills, from this or any other writer, the
video is finished with every frame written so far and the run stops with the reason. A write error
(EIO) that leaves the file unfinishable removes it and says so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.files import check_output
from amf_edge.lazy import require_module
from amf_edge.runtime.sinks.base import Result, RunReport, Sink, SinkContext, prepare_file
from amf_edge.runtime.sinks.encoders import OpenCVEncoder, PyAVEncoder, frame_bound, h264_encoder
from amf_edge.runtime.sinks.files import Reserve, check_folder_writable, describe_os_error, fix_for, temp_path
from amf_edge.runtime.sinks.views import VIEWS, render, view_size
from amf_edge.uri import choice, parse_uri, positive_float

EXAMPLE = "video://out.mp4?fps=30&view=overlay"
CONTAINERS = {".mp4": "mp4", ".mkv": "matroska"}  # H.264 with PyAV
OPENCV = {".mp4": ("vp09", "VP9"), ".mkv": ("VP90", "VP9"), ".avi": ("MJPG", "Motion JPEG")}
INDEX_BYTES, INDEX_PER_FRAME = 16384, 32  # an MP4 index: a few kB plus ~20 bytes a frame (sizes, times, offsets)
GROW_EVERY = 256  # frames between growths of the reserve


def _fourcc(text: str) -> str:
    if len(text) != 4:
        raise ValueError
    return text


OPTIONS = {"fps": (positive_float, "frames per second > 0, e.g. 30"), "view": choice(*VIEWS),
           "fourcc": (_fourcc, "a four-character code such as mp4v or MJPG")}


class VideoSink(Sink):
    scheme = "video"

    def __init__(self, uri: str):
        super().__init__(uri)
        path, options = parse_uri(uri, "video", OPTIONS, EXAMPLE, location="file")
        self.path = Path(path)
        self.suffix = self.path.suffix.lower()
        if "fourcc" not in options and self.suffix not in OPENCV:
            raise AmfEdgeError(f"{uri!r}: cannot tell the video format from {self.suffix or 'no suffix'!r}; "
                               f"name the file .mp4, .mkv or .avi (or give ?fourcc=XXXX)")
        self.fps: float | None = options.get("fps")  # None: the frames' own times
        self.view = options.get("view", "overlay")
        self.fourcc: str | None = options.get("fourcc")
        self.codec = self.note = None
        self.encoder = None
        self.size: tuple[int, int] | None = None
        self.tmp = temp_path(self.path)
        self.reserve = Reserve(self.path)
        self.outcome: str | None = None  # set once the file is finished or given up
        self._full: str | None = None  # why the run must stop, once the disk filled up
        self._first_t = self._last_t = 0.0  # the first and the last frame's time (s)

    def check(self) -> None:
        check_output(self.path, self.uri)  # before the model loads: a file name, a writable folder, room left

    def open(self, context: SinkContext) -> None:
        super().open(context)
        self.cv2 = require_module("cv2", "writing video")
        prepare_file(self.uri, self.path, f"name a file such as {self.path / 'out.mp4'}")
        check_folder_writable(self.uri, self.path.parent)
        self._choose_codec()
        if context.frame_size is not None:  # fail before the first frame where the size is known
            self._start(*view_size(self.view, *context.frame_size))

    def _choose_codec(self) -> None:
        if self.fourcc is not None or self.suffix == ".avi":
            default, name = OPENCV.get(self.suffix, (None, None))
            self.fourcc = self.fourcc or default
            self.codec = name if self.fourcc == default else self.fourcc
            return
        try:
            av = require_module("av", "H.264 video")
            encoder = h264_encoder(av)
            why = None if encoder else f"this PyAV {av.__version__} has no H.264 encoder (libx264 or libopenh264)"
        except AmfEdgeError as e:
            av, encoder, why = None, None, f"H.264 needs PyAV ({str(e).rpartition(': ')[2]})"
        if encoder:
            self.av, self.h264, self.codec = av, encoder, "H.264"
            return
        self.fourcc, self.codec = OPENCV[self.suffix]
        self.note = f"{self.uri}: writing {self.codec} with OpenCV instead of H.264: {why}"
        print(f"note: {self.note}", file=sys.stderr, flush=True)  # once per run: no silent fallback

    def _needed(self, frames: int) -> int:
        height, width = self.size
        return frame_bound(height, width) + INDEX_BYTES + INDEX_PER_FRAME * frames

    def _start(self, height: int, width: int) -> None:
        # A video has one size: a dynamic-size model only reveals it at the first frame.
        self.size = (height, width)
        try:
            self.reserve.grow(self._needed(GROW_EVERY))
        except OSError as e:
            self.reserve.release()
            need = self._needed(GROW_EVERY) // 1024
            raise AmfEdgeError(f"{self.uri}: cannot reserve {need} kB in {self.path.parent} to finish the video "
                               f"({describe_os_error(e)}); {fix_for(e)}") from None
        try:
            if self.fourcc is None:
                even = (height + height % 2, width + width % 2)  # H.264 in 4:2:0 needs even sizes: pad one pixel
                self.encoder = PyAVEncoder(self.av, self.h264, self.tmp, CONTAINERS[self.suffix], *even, self.fps,
                                           self.reserve)
            else:
                self.encoder = OpenCVEncoder(self.cv2, self.fourcc, self.codec, self.tmp, height, width, self.fps,
                                             self.reserve)
        except (OSError, ValueError) as e:
            self.reserve.release()
            self.tmp.unlink(missing_ok=True)
            what = describe_os_error(e) if isinstance(e, OSError) else str(e)
            raise AmfEdgeError(
                f"{self.uri}: could not open a video writer for {self.path} ({what}); check that the folder is "
                "writable and that this OpenCV build has the codec (cv2.getBuildInformation(), 'Video I/O'), "
                "or write .avi (Motion JPEG)") from None

    def write(self, result: Result) -> None:
        if self.outcome is not None:
            raise AmfEdgeError(self._full or f"{self.uri}: the video is already finished ({self.outcome})")
        image = render(result, self.view, self.context)
        if self.encoder is None:
            self._start(*image.shape[:2])
        elif image.shape[:2] != self.size:
            raise AmfEdgeError(f"{self.uri}: the frames changed size from {self.size[0]}×{self.size[1]} to "
                               f"{image.shape[0]}×{image.shape[1]}; a video has one size: keep the source's size fixed")
        if isinstance(self.encoder, PyAVEncoder) and (image.shape[0] % 2 or image.shape[1] % 2):
            image = np.pad(image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0)), mode="edge")
        t = result.frame.timestamp_s
        if not self.written:
            self._first_t = t
        seconds = self.written / self.fps if self.fps else t - self._first_t
        try:
            if self.written and self.written % GROW_EVERY == 0:
                self.reserve.grow(self._needed(self.written + GROW_EVERY))  # the index grows with the frames
            self.encoder.write(image, seconds)
        except OSError as e:
            self._stop(e)
        self.written += 1
        self._last_t = t
        if self.encoder.full:
            # The frame went whole into the space reserved for the index: it is in the video, and counts as
            # written. Finish now, while the index still fits; the run stops at the next frame.
            self._full = (f"{self.uri}: the disk holding {self.path} is full: the video was finished with the "
                          f"{self.written} frames written; free space there or write to another disk")
            self._finish()

    def _stop(self, error: OSError) -> None:
        """A write failed (or the disk is too full for the next frame): finish the file with the frames it has,
        without this one, then stop the run."""
        where = f"at frame {self.written + 1}"
        try:
            self._finish()
        except AmfEdgeError as finishing:
            raise AmfEdgeError(f"{self.uri}: writing {self.path} failed {where} ({describe_os_error(error)}); "
                               f"{finishing}") from None
        raise AmfEdgeError(f"{self.uri}: writing {self.path} failed {where} ({describe_os_error(error)}): the video "
                           f"was finished with the {self.written} frames before it; {fix_for(error)}")

    def _finish(self) -> None:
        """Finish the temporary file (index, sync) and give it the final name; idempotent."""
        if self.encoder is None or self.outcome is not None:
            return
        encoder = self.encoder
        self.reserve.release()  # the index and the last frames go into the space held for them
        try:
            encoder.finish()
            frames = encoder.count()
            if frames is not None and frames != self.written:
                frames = encoder.count(exact=True)  # a header's count may be an estimate: read through the file
        except OSError as e:
            encoder.abort()
            self.tmp.unlink(missing_ok=True)
            self.outcome = f"not written: could not be finished ({describe_os_error(e)})"
            raise AmfEdgeError(f"the video could not be finished ({describe_os_error(e)}) and was removed, "
                               f"{self.written} frames lost; {fix_for(e)}") from None
        if frames is not None and frames != self.written:  # OpenCV reports no failed write: the file is the check
            self.tmp.unlink(missing_ok=True)
            self.outcome = f"not written: the finished file held {frames} of {self.written} frames"
            raise AmfEdgeError(f"the finished video held {frames} of the {self.written} frames written (a write "
                               f"failed unseen: a full or failing disk?) and was removed; check {self.path.parent}")
        self.tmp.replace(self.path)
        self.outcome = "finished"

    def close(self, report: RunReport | None = None) -> None:
        try:
            self._finish()
        except AmfEdgeError as e:
            raise AmfEdgeError(f"{self.uri}: {e}") from None
        finally:
            self.reserve.release()

    def measured_fps(self) -> float | None:
        if self.fps:
            return self.fps
        if self.written > 1 and self._last_t > self._first_t:
            return (self.written - 1) / (self._last_t - self._first_t)
        return None

    def describe(self) -> str | None:
        if self.outcome is None and self.encoder is None:
            opened = getattr(self, "context", None) is not None
            return f"video: no frame, nothing written to {self.path}" if opened else None
        if self.outcome != "finished":
            return f"video: {self.path} {self.outcome or 'not finished'}"
        fps = self.measured_fps()
        rate = f", {fps:.1f} fps" if fps else ""
        return f"wrote video: {self.path} ({self.written} frames{rate}, {self.codec})"

    def stats(self) -> dict:
        fps = self.measured_fps()
        return {"written": self.written, "path": str(self.path), "codec": self.codec, "fourcc": self.fourcc,
                "fps": round(fps, 3) if fps else None, "view": self.view}
