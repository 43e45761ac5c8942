"""SUN RGB-D (37 classes) in the list-file layout of the CEN/TokenFusion releases.

The folder holds `train.txt` (5285 lines in the standard split) and `test.txt` (5050 lines), in the
list-file layout of `listfile.py`: `rgb<TAB>mask<TAB>depth` paths relative to the folder. SUN RGB-D has
no separate validation set, so split "val" reads test.txt, as the papers evaluate on it.

Masks: single-channel uint8 with ids 0..36 in the order of `SUNRGBD_37` and 255 = ignore. The original
SUN RGB-D numbering is 1..37 with 0 = unlabelled; for masks in that numbering pass
`sunrgbd://PATH?label_offset=1`, which maps 0 → 255 and k → k − 1. Nothing is guessed: a mask holding a
value that is neither a class id nor 255 raises an error naming the file and this option.

Depth: single-channel uint16, taken as millimetres (depth_unit 0.001) unless `?depth_unit=` says otherwise.
The SUN RGB-D toolbox un-rotates its raw depth PNGs by 3 bits before reading millimetres; convert such
raw files first; this reader takes the stored values as plain counts.
"""

from __future__ import annotations

from pathlib import Path

from amf_edge.datasets.listfile import ListFileDataset, ListLayout
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import get_labels

SUNRGBD_LABELS = get_labels("sunrgbd")

LABEL_OFFSETS = (0, 1)

SUNRGBD = ListLayout(
    title="SUNRGBD",
    scheme="sunrgbd",
    labels=SUNRGBD_LABELS,
    list_files={"train": "train.txt", "val": "test.txt"},
    standard_sizes={"train": 5285, "val": 5050},
    range_hint="; if the masks number classes 1..37 with 0 = unlabelled, open them with ?label_offset=1",
)


def open_sunrgbd(
    root: str | Path, split: str = "train", depth_unit: float = 0.001, label_offset: int = 0
) -> ListFileDataset:
    """SUN RGB-D from a release folder `root`; split "train" reads train.txt, "val" reads test.txt.

    `label_offset` 1 converts masks numbered 1..37 with 0 = unlabelled to ids 0..36 with 255 = ignore.
    """
    if label_offset not in LABEL_OFFSETS:
        raise AmfEdgeError(
            f"SUNRGBD: label_offset must be 0 or 1, got {label_offset!r}; use 1 for masks numbered 1..37"
        )
    return ListFileDataset(root, SUNRGBD, split, depth_unit, label_offset)
