"""`masks://DIR[?color=1]`: one label PNG (class ids, uint8) and one colour PNG per frame, by frame number.

DIR/labels/000042.png holds the class id of every pixel, DIR/color/000042.png the class colours, and
DIR/classes.json the class names and palette, so the ids can be read back without the model.
"""

from __future__ import annotations

import json
from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module
from amf_edge.runtime.sinks.base import Result, Sink, SinkContext
from amf_edge.runtime.sinks.views import render
from amf_edge.uri import FLAG, parse_uri

EXAMPLE = "masks://out/masks?color=1"


class MasksSink(Sink):
    scheme = "masks"

    def __init__(self, uri: str):
        super().__init__(uri)
        root, options = parse_uri(uri, "masks", {"color": FLAG}, EXAMPLE, location="folder")
        self.root = Path(root)
        self.color = options.get("color", True)

    def open(self, context: SinkContext) -> None:
        super().open(context)
        self.cv2 = require_module("cv2", "writing PNG masks")
        if self.root.exists() and not self.root.is_dir():
            raise AmfEdgeError(f"{self.uri}: {self.root} is a file; name a folder for the masks")
        try:
            for sub in ("labels", "color") if self.color else ("labels",):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            (self.root / "classes.json").write_text(json.dumps(context.labels.to_dict(), indent=1) + "\n")
        except OSError as e:
            raise AmfEdgeError(f"{self.uri}: cannot write into {self.root} ({e.strerror})") from None

    def write(self, result: Result) -> None:
        name = f"{result.frame.index:06d}.png"
        self._imwrite(self.root / "labels" / name, result.labels)
        if self.color:
            self._imwrite(self.root / "color" / name, render(result, "mask", self.context))
        self.written += 1

    def _imwrite(self, path: Path, image) -> None:
        if not self.cv2.imwrite(str(path), image):
            raise AmfEdgeError(f"{self.uri}: could not write {path}; check that the folder is writable and has space")

    def stats(self) -> dict:
        return {"written": self.written, "folder": str(self.root)}
