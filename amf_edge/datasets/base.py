"""What every dataset is (the `Dataset` protocol) and the small rules all of them share."""

from __future__ import annotations

import operator
from typing import Protocol, runtime_checkable

from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.sample import RGBDSample

SPLITS = ("train", "val")


@runtime_checkable
class Dataset(Protocol):
    """A fixed-length, indexable sequence of labelled RGB-D samples.

    `dataset[i]` reads sample i from disk (or renders it) on every call, so a dataset is cheap to hand to
    DataLoader workers. Indices follow Python sequences: negative ones count from the end and anything
    outside [-len, len) raises IndexError. Every sample has a label image of `labels` ids (255 = ignore).
    """

    @property
    def labels(self) -> LabelSet: ...

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> RGBDSample: ...

    def __repr__(self) -> str: ...


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise AmfEdgeError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    return split


def resolve_index(index: int, length: int, what: str) -> int:
    """`index` as a position in [0, length), counting negative indices from the end; IndexError outside."""
    i = operator.index(index)
    if i < 0:
        i += length
    if not 0 <= i < length:
        raise IndexError(f"{what}: index {index} out of range for {length} samples")
    return i
