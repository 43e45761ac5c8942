"""Class names and colour palettes (numpy-only, shared by training, export and the runtime)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amf_edge.errors import AmfEdgeError

IGNORE_INDEX = 255
"""Label value that marks pixels without ground truth; losses and metrics skip it."""


def voc_colormap(n: int = 256) -> np.ndarray:
    """The PASCAL VOC bit-interleaved colormap, an (n, 3) uint8 array.

    Colour k spreads the bits of k over the high bits of R, G and B, so neighbouring ids get
    clearly different colours. AsymFusion's `utils/cmap.npy` is this map.
    """
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for k in range(n):
        c, rgb = k, [0, 0, 0]
        for j in range(8):
            for channel in range(3):
                rgb[channel] |= ((c >> channel) & 1) << (7 - j)
            c >>= 3
        cmap[k] = rgb
    return cmap


@dataclass(frozen=True)
class LabelSet:
    """Names and display colours of a dataset's classes; ids are positions in `names`."""

    name: str
    names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.palette):
            raise AmfEdgeError(
                f"label set {self.name!r}: {len(self.names)} class names but {len(self.palette)} palette "
                "colours; give one RGB colour per class"
            )
        if not 0 < len(self.names) < IGNORE_INDEX:
            raise AmfEdgeError(
                f"label set {self.name!r}: {len(self.names)} classes; expected 1 to {IGNORE_INDEX - 1} "
                f"(labels are uint8 and {IGNORE_INDEX} means 'ignore')"
            )

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def lut(self) -> np.ndarray:
        """A (256, 3) uint8 lookup table: class colours, black for every other id (ignore included)."""
        table = np.zeros((256, 3), dtype=np.uint8)
        table[: self.num_classes] = np.asarray(self.palette, dtype=np.uint8)
        return table

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """Map a uint8 label image (…×H×W) to RGB (…×H×W×3)."""
        return self.lut()[np.asarray(labels, dtype=np.uint8)]

    def to_dict(self) -> dict:
        return {"name": self.name, "names": list(self.names), "palette": [list(c) for c in self.palette]}

    @classmethod
    def from_dict(cls, d: dict) -> LabelSet:
        return cls(d["name"], tuple(d["names"]), tuple(tuple(int(v) for v in c) for c in d["palette"]))

    @classmethod
    def generic(cls, num_classes: int) -> LabelSet:
        """Numbered classes with VOC colours, for models trained on data without names."""
        cmap = voc_colormap()
        return cls(
            f"generic-{num_classes}",
            tuple(f"class_{i}" for i in range(num_classes)),
            tuple(tuple(int(v) for v in cmap[i + 1]) for i in range(num_classes)),
        )


# Gupta et al.'s 40-class mapping in the order AsymFusion/CEN use ("refridgerator" sic).
NYUDV2_40 = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
    "floor mat", "clothes", "ceiling", "books", "refridgerator", "television", "paper", "towel",
    "shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp",
    "bathtub", "bag", "otherstructure", "otherfurniture", "otherprop",
)  # fmt: skip


# SUN RGB-D's 37 classes in the order the RGB-D segmentation literature uses.
SUNRGBD_37 = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
    "floor_mat", "clothes", "ceiling", "books", "fridge", "tv", "paper", "towel", "shower_curtain",
    "box", "whiteboard", "person", "night_stand", "toilet", "sink", "lamp", "bathtub", "bag",
)  # fmt: skip


def _voc_palette(num_classes: int) -> tuple[tuple[int, int, int], ...]:
    # AsymFusion indexes its VOC colormap with label + 1, so class 0 is dark red, not black.
    cmap = voc_colormap()
    return tuple(tuple(int(v) for v in cmap[i + 1]) for i in range(num_classes))


_LABEL_SETS: dict[str, LabelSet] = {}


def register_labels(labels: LabelSet) -> LabelSet:
    if labels.name in _LABEL_SETS:
        raise ValueError(f"label set {labels.name!r} is registered twice")
    _LABEL_SETS[labels.name] = labels
    return labels


def get_labels(name: str) -> LabelSet:
    """A registered label set by name; an unknown name lists the valid ones."""
    try:
        return _LABEL_SETS[name]
    except KeyError:
        raise AmfEdgeError(
            f"unknown label set {name!r}; valid names: {', '.join(sorted(_LABEL_SETS))}"
        ) from None


def label_set_names() -> list[str]:
    return sorted(_LABEL_SETS)


register_labels(LabelSet("nyudv2", NYUDV2_40, _voc_palette(len(NYUDV2_40))))
register_labels(LabelSet("sunrgbd", SUNRGBD_37, _voc_palette(len(SUNRGBD_37))))
