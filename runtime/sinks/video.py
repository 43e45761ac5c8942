"""`video://out.mp4[?fps=30&view=overlay&fourcc=mp4v]`: the segmentation as a video file (OpenCV).

The container comes from the suffix (.mp4 or .mkv with MPEG-4 Part 2, .avi with Motion JPEG: codecs
every OpenCV FFmpeg build has). The file is finalized on close, also when the run stops with an error,
so what was written up to the error plays.
"""

from __future__ import annotations

from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module
from amf_edge.runtime.sinks.base import Result, RunReport, Sink, SinkContext, prepare_file
from amf_edge.runtime.sinks.views import VIEWS, render, view_size
from amf_edge.uri import choice, parse_uri, positive_float

EXAMPLE = "video://out.mp4?fps=30&view=overlay"
FOURCC = {".mp4": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


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
        suffix = self.path.suffix.lower()
        if "fourcc" not in options and suffix not in FOURCC:
            raise AmfEdgeError(f"{uri!r}: cannot tell the video format from {suffix or 'no suffix'!r}; "
                               f"name the file .mp4, .mkv or .avi (or give ?fourcc=XXXX)")
        self.fps = options.get("fps", 30.0)
        self.view = options.get("view", "overlay")
        self.fourcc = options.get("fourcc") or FOURCC[suffix]
        self.writer = None
        self.size: tuple[int, int] | None = None

    def open(self, context: SinkContext) -> None:
        super().open(context)
        self.cv2 = require_module("cv2", "writing video")
        prepare_file(self.uri, self.path, f"name a file such as {self.path / 'out.mp4'}")
        if context.frame_size is not None:  # fail before the first frame where the size is known
            self._start(*view_size(self.view, *context.frame_size))

    def _start(self, height: int, width: int) -> None:
        # A video has one size: a dynamic-size model only reveals it at the first frame.
        cv2 = self.cv2
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (width, height))
        if not self.writer.isOpened():
            self.writer = None
            raise AmfEdgeError(
                f"{self.uri}: OpenCV could not open a video writer for {self.path} ({self.fourcc}, {width}×{height} "
                f"at {self.fps:g} fps); check that the folder is writable and that this OpenCV build has the codec "
                "(cv2.getBuildInformation(), 'Video I/O'), or write .avi (Motion JPEG)"
            )
        self.size = (height, width)

    def write(self, result: Result) -> None:
        image = render(result, self.view, self.context)
        if self.writer is None:
            self._start(*image.shape[:2])
        elif image.shape[:2] != self.size:
            raise AmfEdgeError(f"{self.uri}: the frames changed size from {self.size[0]}×{self.size[1]} to "
                               f"{image.shape[0]}×{image.shape[1]}; a video has one size: keep the source's size fixed")
        self.writer.write(image)
        self.written += 1

    def close(self, report: RunReport | None = None) -> None:
        if self.writer is not None:
            self.writer.release()  # writes the container's index: without it an .mp4 does not play
            self.writer = None

    def stats(self) -> dict:
        return {"written": self.written, "path": str(self.path), "fourcc": self.fourcc, "fps": self.fps,
                "view": self.view}

