"""`folder://DIR`: colour and depth PNG pairs in plain folders, matched by file stem, as a frame source.

    DIR/rgb/<stem>.png|jpg   8-bit colour
    DIR/depth/<stem>.png     16-bit depth registered to the colour image, 0 = no measurement
    DIR/timestamps.txt       optional, lines "stem seconds" ('#' comments); else frame i is at i / fps

Frames come in sorted stem order (name files so that they sort in capture order, e.g. 000123.png).
Options: ?depth_unit=0.001 (metres per count; a training folder's dataset.yaml may set it too, and the
two must agree), ?fps=30 (for timestamps without a timestamps file), ?width=&height= (resize), ?loop=1.
A stem with only a colour or only a depth image is skipped, counted in `stats()` (unmatched_color,
unmatched_depth) and logged once when the source opens.
"""

from __future__ import annotations

import logging
from pathlib import Path

from amf_edge.datasets.folder import index_folder
from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.sources.common import DEPTH_UNIT, FILE_OPTIONS, FileSource
from amf_edge.runtime.sync import SyncStats
from amf_edge.uri import finite_float, positive_float

log = logging.getLogger(__name__)

LAYOUT = ("a frame folder holds rgb/<stem>.png (or .jpg) and depth/<stem>.png (16-bit) with matching stems, "
          "and optionally timestamps.txt with lines 'stem seconds'")
SUFFIXES = {"rgb": (".png", ".jpg", ".jpeg"), "depth": (".png",)}
TIMESTAMPS = "timestamps.txt"
OPTIONS = {**FILE_OPTIONS, "depth_unit": DEPTH_UNIT, "fps": (positive_float, "frames per second > 0, e.g. 30")}
SHOWN = 3


def _listed(names: list[str]) -> str:
    return ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def read_timestamps(path: Path, stems: set[str]) -> dict[str, float]:
    times: dict[str, float] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        try:
            if len(fields) != 2:
                raise ValueError
            times[fields[0]] = finite_float(fields[1])
        except ValueError:
            raise AmfEdgeError(f"{path}:{number}: expected 'stem seconds', e.g. '000123 12.345', "
                               f"got {line!r}") from None
        if fields[0] not in stems:
            raise AmfEdgeError(f"{path}:{number}: no image in rgb/ or depth/ has the stem {fields[0]!r}")
    return times


def _depth_unit(root: Path, uri: str, given: float | None) -> float:
    """The URI's depth unit, else a training folder's dataset.yaml's, else millimetres; they must not disagree."""
    config = root / "dataset.yaml"
    if not config.is_file():
        return 0.001 if given is None else given
    from amf_edge.datasets.folder import read_config  # needs PyYAML, only for folders that have the file

    _, configured = read_config(config)
    if given is not None and abs(given - configured) > 1e-12 * configured:
        raise AmfEdgeError(f"{uri!r} says depth_unit={given} but {config} says {configured}; "
                           "drop the option or fix the file")
    return configured


class FolderSource(FileSource):
    scheme, spec, example, layout = "folder", OPTIONS, "folder://captures/office", LAYOUT

    def __init__(self, uri: str):
        super().__init__(uri)
        options = self.options
        self.depth_unit = _depth_unit(self.root, uri, options.get("depth_unit"))
        color, depth = (index_folder(self.root / name, SUFFIXES[name], LAYOUT, "images for frame")
                        for name in ("rgb", "depth"))
        self.stems = sorted(set(color) & set(depth))
        only_color, only_depth = sorted(set(color) - set(depth)), sorted(set(depth) - set(color))
        self.sync_stats = SyncStats(matched=len(self.stems), unmatched_color=len(only_color),
                                    unmatched_depth=len(only_depth))
        if not self.stems:
            raise AmfEdgeError(f"{self.root}: no stem has both a colour and a depth image "
                               f"({len(color)} in rgb/, {len(depth)} in depth/); {LAYOUT}")
        for names, has, lacks in ((only_color, "rgb", "depth"), (only_depth, "depth", "rgb")):
            if names:
                log.warning("%s: skipping %d frame(s) with a %s/ image but none in %s/: %s",
                            self.root, len(names), has, lacks, _listed(names))
        times = self._timestamps(set(color) | set(depth), float(options.get("fps", 30.0)))
        self.pairs = [(t, color[s], depth[s]) for s, t in zip(self.stems, times)]
        self.names = list(self.stems)  # outputs are named like the inputs

    def _timestamps(self, stems: set[str], fps: float) -> list[float]:
        path = self.root / TIMESTAMPS
        if not path.is_file():
            return [i / fps for i in range(len(self.stems))]
        given = read_timestamps(path, stems)
        missing = [s for s in self.stems if s not in given]
        if missing:
            raise AmfEdgeError(f"{path} has no time for frame(s) {_listed(missing)}; "
                               "give every frame a line 'stem seconds'")
        times = [given[s] for s in self.stems]
        for (a, ta), (b, tb) in zip(zip(self.stems, times), zip(self.stems[1:], times[1:])):
            if tb <= ta:
                raise AmfEdgeError(f"{path}: frame {b!r} ({tb} s) is not later than {a!r} ({ta} s), but frames play in "
                                   "sorted stem order; rename the files so that they sort in capture order")
        return times

    def stats(self) -> dict:
        return {**self.sync_stats.to_dict(), "frames": self.delivered}
