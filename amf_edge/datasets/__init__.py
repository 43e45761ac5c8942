"""Labelled RGB-D datasets behind one URI-addressed entry point (numpy + lazily imported OpenCV).

    open_dataset("nyudv2://data/nyudv2", "val")                   official NYUDv2 release (795 / 654)
    open_dataset("sunrgbd://data/sun?label_offset=1")             SUN RGB-D, CEN/TokenFusion layout (5285 / 5050)
    open_dataset("folder://data/my_rooms")                        your own data (see `folder.py`)
    open_dataset("synthetic://?seed=0&n=200&val=50", "val")       the procedural generator

Every dataset follows the `Dataset` protocol and returns `RGBDSample`s with uint8 RGB, uint16 raw depth
with its `depth_unit`, and uint8 labels (255 = ignore). Datasets never resize or normalise: geometric
augmentation lives in `amf_edge.transforms`, normalisation in `amf_edge.preprocess`.
"""

from __future__ import annotations

from collections.abc import Mapping

from amf_edge.datasets.base import SPLITS, Dataset, check_split
from amf_edge.datasets.folder import FolderDataset
from amf_edge.datasets.imageio import crop_align_to_mask, read_depth, read_label, read_rgb
from amf_edge.datasets.listfile import ListFileDataset, ListLayout
from amf_edge.datasets.nyudv2 import NYUDV2, open_nyudv2
from amf_edge.datasets.sunrgbd import SUNRGBD, SUNRGBD_LABELS, open_sunrgbd
from amf_edge.errors import AmfEdgeError
from amf_edge.synthetic import parse_synthetic_uri
from amf_edge.uri import FLAG, Option, flag, parse_uri, positive_float, split_uri

__all__ = [
    "NYUDV2", "SCHEMES", "SPLITS", "SUNRGBD", "SUNRGBD_LABELS", "Dataset", "FolderDataset", "ListFileDataset",
    "ListLayout", "crop_align_to_mask", "open_dataset", "open_nyudv2", "open_sunrgbd", "read_depth", "read_label",
    "read_rgb",
]  # fmt: skip


def _label_offset(text: str) -> int:
    return int(flag(text))  # a switch: on (1) for masks numbered 1..37


# scheme → {option: (parser raising ValueError, what a valid value is)}; "synthetic" parses its own URI.
_DEPTH_UNIT: Option = (positive_float, "metres per depth count > 0, e.g. 0.001 for millimetres")
OPTIONS: dict[str, Mapping[str, Option]] = {
    "nyudv2": {"depth_unit": _DEPTH_UNIT},
    "sunrgbd": {"depth_unit": _DEPTH_UNIT, "label_offset": (_label_offset, FLAG[1])},
    "folder": {},
}
EXAMPLES = {"nyudv2": "nyudv2://data/nyudv2?depth_unit=0.001", "sunrgbd": "sunrgbd://data/sunrgbd?label_offset=1",
            "folder": "folder://data/my_rooms"}
SCHEMES = (*OPTIONS, "synthetic")


def parse_dataset_uri(uri: str) -> tuple[str, str, dict[str, object]]:
    """`SCHEME://PATH?key=value&...` → (scheme, path decoded with ~ expanded, parsed options).

    Parsed by `amf_edge.uri` like every source and sink URI (%-escapes decoded in the path and the values).
    Unknown schemes and options list the valid ones.
    """
    scheme = split_uri(uri)[0]
    if scheme not in OPTIONS:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        hint = f"; for a folder of your own data use folder://{uri}" if not scheme else ""
        raise AmfEdgeError(f"unknown dataset URI {uri!r}; expected one of {known}{hint}")
    note = " (folder datasets take theirs from dataset.yaml)" if scheme == "folder" else ""
    path, options = parse_uri(uri, scheme, OPTIONS[scheme], EXAMPLES[scheme], location="folder", note=note)
    return scheme, path, options


def open_dataset(uri: str, split: str = "train") -> Dataset:
    """The `split` ("train" or "val") of the dataset at `uri`; see the module docstring for the schemes.

    List files and folders are checked here; image files are opened (and checked) when a sample is read.
    """
    check_split(split)
    if split_uri(uri)[0] == "synthetic":
        return parse_synthetic_uri(uri, split)
    scheme, path, options = parse_dataset_uri(uri)
    if scheme == "nyudv2":
        return open_nyudv2(path, split, **options)
    if scheme == "sunrgbd":
        return open_sunrgbd(path, split, **options)
    return FolderDataset(path, split)
