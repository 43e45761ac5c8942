"""The list-file layout of the AsymFusion/CEN/TokenFusion dataset releases, one reader for all of them.

A release folder holds one list file per split. Each line names one sample's files, relative to the folder,
in three TAB-separated columns: `rgb/000003.png<TAB>masks/000003.png<TAB>depth/000003.png` (rgb, mask,
depth: the official code reads them by position). Datasets differ only in their `ListLayout`: list file
names, label set, standard split sizes, and how their masks number the classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from amf_edge.datasets.base import check_split, resolve_index
from amf_edge.datasets.imageio import load_labelled_sample
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.sample import RGBDSample

COLUMNS = ("rgb", "mask", "depth")


@dataclass(frozen=True)
class ListLayout:
    """What distinguishes one list-file dataset release from another.

    Attributes:
        title: display name, e.g. "NYUDv2".
        scheme: its `open_dataset` URI scheme, e.g. "nyudv2".
        labels: the label set its masks index.
        list_files: split → list file name inside the dataset folder.
        standard_sizes: split → number of lines in the official list (users may trim theirs).
        range_hint: appended to the error for out-of-range mask values (e.g. how to fix an id offset).
    """

    title: str
    scheme: str
    labels: LabelSet
    list_files: Mapping[str, str]
    standard_sizes: Mapping[str, int]
    range_hint: str = ""


class ListEntry(NamedTuple):
    """One sample's files (absolute or relative to the working directory) and its line in the list file."""

    rgb: Path
    mask: Path
    depth: Path
    line: int


def read_list_file(path: Path, root: Path) -> list[ListEntry]:
    """Parse a list file strictly: exactly three TAB-separated, non-empty columns per non-blank line."""
    if not path.is_file():
        raise AmfEdgeError(
            f"list file {path} does not exist; a dataset folder needs one list file per split, each line "
            "'rgb/NNNNNN.png<TAB>masks/NNNNNN.png<TAB>depth/NNNNNN.png'"
        )
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue  # a trailing blank line is common and harmless
        columns = line.split("\t")
        if len(columns) != len(COLUMNS) or not all(c.strip() for c in columns):
            raise AmfEdgeError(
                f"{path} line {number}: expected 3 TAB-separated columns ({', '.join(COLUMNS)}), got "
                f"{len(columns)} in {line!r}; separate the columns with single TAB characters"
            )
        rgb, mask, depth = (root / c.strip() for c in columns)
        entries.append(ListEntry(rgb, mask, depth, number))
    if not entries:
        raise AmfEdgeError(f"list file {path} lists no samples; add lines or pick another split")
    return entries


class ListFileDataset:
    """A dataset release in the list-file layout (see the module docstring); implements `Dataset`.

    Files are only opened in `__getitem__`, so a missing or malformed image is reported (with its path)
    when that sample is read; the list file itself is parsed up front. rgb and depth are centre-cropped
    to the mask size when they are larger (`crop_align_to_mask`).
    """

    def __init__(self, root: str | Path, layout: ListLayout, split: str = "train", depth_unit: float = 0.001,
                 label_offset: int = 0) -> None:
        self.root, self.layout, self.split = Path(root), layout, check_split(split)
        if not self.root.is_dir():
            raise AmfEdgeError(f"{layout.title} folder {self.root} does not exist; pass the folder that holds "
                               f"{' and '.join(layout.list_files.values())}")
        if not depth_unit > 0:
            raise AmfEdgeError(f"{layout.title}: depth_unit must be metres per depth count > 0, got {depth_unit}")
        self.depth_unit, self.label_offset = float(depth_unit), label_offset
        self.list_file = self.root / layout.list_files[split]
        self.entries = read_list_file(self.list_file, self.root)

    @property
    def labels(self) -> LabelSet:
        return self.layout.labels

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> RGBDSample:
        entry = self.entries[resolve_index(index, len(self.entries), repr(self))]
        return load_labelled_sample(
            entry.rgb, entry.depth, entry.mask, self.labels, self.depth_unit, self.label_offset,
            # The layout's hint suggests a label offset; useless once one is set.
            f" ({self.list_file.name} line {entry.line}){'' if self.label_offset else self.layout.range_hint}",
        )

    def __repr__(self) -> str:
        standard = self.layout.standard_sizes[self.split]
        offset = f", label_offset={self.label_offset}" if self.label_offset else ""
        return (
            f"{self.layout.title}('{self.root}', split={self.split!r} from {self.list_file.name}: {len(self)} samples "
            f"[standard: {standard}], depth_unit={self.depth_unit}{offset})"
        )
