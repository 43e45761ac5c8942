"""`masks://DIR[?color=1]`: one label PNG (class ids, uint8) and one colour PNG per frame, named after the frame.

DIR/labels/NAME.png holds the class id of every pixel, DIR/color/NAME.png the class colours, and
DIR/classes.json the class names and palette, so the ids can be read back without the model. NAME is the
source's name for the frame where it has one (a folder's file stem, a TUM timestamp such as
1305031102.175304), else the zero-padded frame number (000042); a name seen before in the run (a looped
source) gets the frame number appended, so no frame overwrites another.

Each PNG is encoded in memory and written under a temporary name, then renamed: a full disk or an I/O
error stops the run with the reason, and every PNG under a final name is whole. A frame's label and
colour PNGs come as a pair: if the second cannot be written, the first is removed again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.files import check_output
from amf_edge.lazy import require_module
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sinks.base import Result, Sink, SinkContext
from amf_edge.runtime.sinks.files import check_folder_writable, describe_os_error, fix_for, write_file_atomic
from amf_edge.runtime.sinks.views import render
from amf_edge.uri import FLAG, parse_uri

EXAMPLE = "masks://out/masks?color=1"
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")  # what a file name on any filesystem may hold
MAX_NAME = 200  # below every filesystem's 255-byte limit, with room for "-NNNNNN.png"


def file_name(name: str | None, index: int) -> str:
    """A safe file stem for a frame: its source name with anything unsafe replaced, else its number."""
    if name:
        safe = UNSAFE.sub("_", name).lstrip(".")[:MAX_NAME]  # no hidden files, no "..", no separators
        if safe:
            return safe
    return f"{index:06d}"


class MasksSink(Sink):
    scheme = "masks"

    def __init__(self, uri: str):
        super().__init__(uri)
        root, options = parse_uri(uri, "masks", {"color": FLAG}, EXAMPLE, location="folder")
        self.root = Path(root)
        self.color = options.get("color", True)
        self.folders = ("labels", "color") if self.color else ("labels",)
        self._used: set[str] = set()  # names written in this run: a repeated one must not overwrite
        self.first = self.last = None

    def check(self) -> None:
        check_output(self.root, self.uri, folder=True)  # before the model loads: a writable folder, room left

    def open(self, context: SinkContext) -> None:
        super().open(context)
        self.cv2 = require_module("cv2", "writing PNG masks")
        if self.root.exists() and not self.root.is_dir():
            raise AmfEdgeError(f"{self.uri}: {self.root} is a file; name a folder for the masks")
        check_folder_writable(self.uri, self.root)
        try:
            for sub in self.folders:
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            text = json.dumps(context.labels.to_dict(), indent=1) + "\n"
            write_file_atomic(self.root / "classes.json", text.encode())
        except OSError as e:
            raise AmfEdgeError(f"{self.uri}: cannot write into {self.root} ({describe_os_error(e)}); "
                               f"{fix_for(e)}") from None

    def _name(self, frame: Frame) -> str:
        name = file_name(frame.name, frame.index)
        if name in self._used:
            name = f"{name}-{frame.index:06d}"
            while name in self._used:  # the same name and number twice: a source that repeats itself
                name += "+"
        self._used.add(name)
        return name + ".png"

    def _encode(self, image) -> memoryview:
        ok, data = self.cv2.imencode(".png", image)
        if not ok:
            raise AmfEdgeError(f"{self.uri}: OpenCV could not encode a {image.shape} {image.dtype} mask as PNG")
        return memoryview(data)

    def write(self, result: Result) -> None:
        pictures = [self._encode(result.labels)]
        if self.color:
            pictures.append(self._encode(render(result, "mask", self.context)))
        name = self._name(result.frame)
        done: list[Path] = []
        # No fsync per file: it would cost a disk flush per frame (slow on SD cards and eMMC); the rename
        # already guarantees that a crash of the process never leaves a partial PNG under a final name.
        try:
            for sub, data in zip(self.folders, pictures):
                path = self.root / sub / name
                write_file_atomic(path, data)
                done.append(path)
        except OSError as e:
            for written in done:  # the frame's pair is whole or absent
                written.unlink(missing_ok=True)
            raise AmfEdgeError(
                f"{self.uri}: could not write {path} ({describe_os_error(e)}); the {self.written} frames before it "
                f"are whole in {self.root}; {fix_for(e)}") from None
        self.written += 1
        self.first = self.first or name
        self.last = name

    def describe(self) -> str | None:
        if getattr(self, "context", None) is None:
            return None
        if not self.written:
            return f"masks: no frame written to {self.root}"
        names = self.first if self.written == 1 else f"{self.first} … {self.last}"
        folders = " and ".join(f"{sub}/" for sub in self.folders)
        return f"wrote masks: {self.root} ({self.written} frames in {folders}: {names}; classes.json)"

    def stats(self) -> dict:
        return {"written": self.written, "folder": str(self.root)}
