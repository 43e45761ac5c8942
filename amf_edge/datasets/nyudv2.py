"""NYUDv2 (40 classes) in the official AsymFusion/CEN release layout.

The folder holds `train.txt` (795 lines in the standard split) and `val.txt` (654 lines: the standard test
split, which the official code also uses for validation), in the list-file layout of `listfile.py`:
`rgb/000003.png<TAB>masks/000003.png<TAB>depth/000003.png`. Masks are single-channel uint8 with ids 0..39
(Gupta et al.'s 40 classes, `get_labels("nyudv2")`) and 255 = ignore; depth is single-channel uint16.

Depth unit: the release does not state one. We take the PNG values as millimetres (depth_unit 0.001 m per
count), as ESANet's maintainers report for NYUDv2; the official recipe feeds raw values × 1/5000, which is
then metres / 5 (see `amf_edge.preprocess`). Pass `nyudv2://PATH?depth_unit=...` if your copy differs.
"""

from __future__ import annotations

from pathlib import Path

from amf_edge.datasets.listfile import ListFileDataset, ListLayout
from amf_edge.labels import get_labels

NYUDV2 = ListLayout(
    title="NYUDv2",
    scheme="nyudv2",
    labels=get_labels("nyudv2"),
    list_files={"train": "train.txt", "val": "val.txt"},
    standard_sizes={"train": 795, "val": 654},
)


def open_nyudv2(root: str | Path, split: str = "train", depth_unit: float = 0.001) -> ListFileDataset:
    """NYUDv2 from the official release folder `root`; split "train" reads train.txt, "val" val.txt."""
    return ListFileDataset(root, NYUDV2, split, depth_unit)
