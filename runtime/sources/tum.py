"""`tum://DIR`: a sequence in the TUM RGB-D benchmark layout, colour and depth paired by timestamp.

    DIR/rgb.txt     lines "timestamp filename" (seconds; the file relative to DIR), '#' comments
    DIR/depth.txt   the same for the depth images
    DIR/rgb/*.png   8-bit colour
    DIR/depth/*.png 16-bit depth registered to colour, 5000 counts per metre (depth_unit 0.0002), 0 = none

Options: ?max_dt=0.02 (pairing tolerance in seconds, associate.py's default), ?depth_unit=0.0002,
?fx=&fy=&cx=&cy= (the colour intrinsics in pixels; none by default: TUM's sequences come from several
cameras, and the "ROS default" 525/525/319.5/239.5 that TUM suggests for the pre-registered depth is
written out as ?fx=525&fy=525&cx=319.5&cy=239.5), ?width=&height= (resize), ?loop=1.

Colour and depth are paired like TUM's associate.py (`amf_edge.runtime.sync.associate`): greedy nearest pairs closer
than max_dt, each image used once. Frame.index is the pair's position, Frame.timestamp_s the colour time.
"""

from __future__ import annotations

from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.sources.common import (
    DEPTH_UNIT,
    FILE_OPTIONS,
    MAX_DT,
    FileSource,
    intrinsics_option,
)
from amf_edge.runtime.sync import associate
from amf_edge.uri import finite_float, positive_float

LAYOUT = ("a TUM RGB-D sequence folder holds rgb.txt and depth.txt (lines 'timestamp filename', '#' comments) "
          "and the rgb/ and depth/ PNGs they name")
FOCAL: tuple = (positive_float, "a focal length in pixels > 0")
CENTRE: tuple = (finite_float, "a principal point coordinate in pixels")
OPTIONS = {**FILE_OPTIONS, "max_dt": MAX_DT, "depth_unit": DEPTH_UNIT,
           "fx": FOCAL, "fy": FOCAL, "cx": CENTRE, "cy": CENTRE}
DEPTH_UNIT_TUM = 1 / 5000


def read_list(path: Path) -> list[tuple[float, Path, str]]:
    """(timestamp, file, the timestamp as written) per entry of a TUM list file; files resolve against the
    list's folder. The text is kept for naming outputs: TUM's tools match files by it, digit for digit."""
    if not path.is_file():
        raise AmfEdgeError(f"{path} does not exist; {LAYOUT}")
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.replace(",", " ").split()
        try:
            if len(fields) < 2:
                raise ValueError
            entries.append((finite_float(fields[0]), path.parent / fields[1], fields[0]))
        except ValueError:
            raise AmfEdgeError(f"{path}:{number}: expected 'timestamp filename', e.g. "
                               f"'1305031102.175304 rgb/1305031102.175304.png', got {line!r}") from None
    return entries


class TumSource(FileSource):
    scheme, spec, example, layout = "tum", OPTIONS, "tum://data/rgbd_dataset_freiburg1_desk", LAYOUT

    def __init__(self, uri: str):
        super().__init__(uri)
        options = self.options
        self.depth_unit = float(options.get("depth_unit", DEPTH_UNIT_TUM))
        self.intrinsics = intrinsics_option(uri, options)
        self.max_dt = float(options.get("max_dt", 0.02))
        color, depth = read_list(self.root / "rgb.txt"), read_list(self.root / "depth.txt")
        pairs, self.sync_stats = associate([e[0] for e in color], [e[0] for e in depth], self.max_dt)
        if not pairs:
            raise AmfEdgeError(
                f"{self.root}: none of the {len(color)} colour and {len(depth)} depth timestamps are closer than "
                f"max_dt={self.max_dt} s; check the lists or raise the tolerance with ?max_dt=")
        self.pairs = [(color[i][0], color[i][1], depth[j][1]) for i, j in pairs]
        self.names = [color[i][2] for i, _ in pairs]  # the colour timestamp, e.g. 1305031102.175304
        missing = [str(p) for _, c, d in self.pairs for p in (c, d) if not p.is_file()]
        if missing:
            raise AmfEdgeError(f"{self.root}: {len(missing)} listed image(s) do not exist, e.g. {missing[0]}; {LAYOUT}")

    def stats(self) -> dict:
        return {**self.sync_stats.to_dict(), "frames": self.delivered, "max_dt_s": self.max_dt}
