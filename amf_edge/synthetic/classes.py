"""The synthetic dataset's classes, their ids and display colours."""

from __future__ import annotations

from enum import IntEnum

from amf_edge.labels import LabelSet, register_labels


class SyntheticClass(IntEnum):
    """Class ids of the synthetic scenes (see the package docstring for which cue separates which)."""

    FLOOR = 0
    WALL = 1
    CEILING = 2
    CABINET = 3
    BIN = 4
    BALL = 5
    TABLE = 6
    CRATE = 7
    RUG = 8
    PICTURE = 9
    WHITEBOARD = 10


# Furniture shares one appearance distribution: only its shape tells these classes apart.
FURNITURE = (
    SyntheticClass.CABINET,
    SyntheticClass.BIN,
    SyntheticClass.BALL,
    SyntheticClass.TABLE,
    SyntheticClass.CRATE,
)

_PALETTE = {
    SyntheticClass.FLOOR: (140, 86, 75),
    SyntheticClass.WALL: (174, 199, 232),
    SyntheticClass.CEILING: (255, 255, 255),
    SyntheticClass.CABINET: (31, 119, 180),
    SyntheticClass.BIN: (255, 127, 14),
    SyntheticClass.BALL: (44, 160, 44),
    SyntheticClass.TABLE: (214, 39, 40),
    SyntheticClass.CRATE: (148, 103, 189),
    SyntheticClass.RUG: (227, 119, 194),
    SyntheticClass.PICTURE: (188, 189, 34),
    SyntheticClass.WHITEBOARD: (23, 190, 207),
}

SYNTHETIC_LABELS: LabelSet = register_labels(
    LabelSet(
        "synthetic",
        tuple(c.name.lower() for c in SyntheticClass),
        tuple(_PALETTE[c] for c in SyntheticClass),
    )
)
"""Label set of the synthetic scenes, registered as ``"synthetic"``."""
