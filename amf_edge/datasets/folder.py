"""Users' own RGB-D data in a plain folder layout (`folder://PATH`).

    PATH/dataset.yaml        classes: [wall, floor, ...]      required, class ids are positions in this list
                             palette: [[r, g, b], ...]        optional, default VOC colours (id + 1)
                             depth_unit: 0.001                optional, metres per depth count (default mm)
                             name: my-rooms                   optional label-set name, default the folder name
    PATH/rgb/<stem>.png|jpg  colour images
    PATH/depth/<stem>.png    single-channel uint16 depth, aligned to the colour camera, 0 = no measurement
    PATH/label/<stem>.png    single-channel uint8 class ids, 255 = ignore
    PATH/train.txt, val.txt  optional, one stem per line

Samples are matched by file stem; every stem in rgb/ needs a depth and a label file (extra depth or label
files are ignored). Without train.txt/val.txt the split is deterministic: sorting the stems as strings,
every 10th one (the 1st, 11th, 21st, ...) is "val" and the rest is "train", so about 10 % is held out.
Reading dataset.yaml needs PyYAML.
"""

from __future__ import annotations

import math
from pathlib import Path

from amf_edge.datasets.base import check_split, resolve_index
from amf_edge.datasets.imageio import load_labelled_sample
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet, voc_colormap
from amf_edge.lazy import require_module
from amf_edge.sample import RGBDSample

CONFIG_FILE = "dataset.yaml"
CONFIG_KEYS = ("classes", "palette", "depth_unit", "name")
FOLDERS = {"rgb": (".png", ".jpg", ".jpeg"), "depth": (".png",), "label": (".png",)}
VAL_EVERY = 10
MAX_LISTED = 5


def _listed(names: list[str]) -> str:
    return ", ".join(names[:MAX_LISTED]) + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def read_config(path: Path) -> tuple[LabelSet, float]:
    """The label set and depth unit (metres per count) that `dataset.yaml` at `path` describes."""
    example = "classes: [wall, floor, chair]\ndepth_unit: 0.001"
    if not path.is_file():
        raise AmfEdgeError(f"{path} does not exist; a folder dataset needs one naming its classes, e.g.\n{example}")
    yaml = require_module("yaml", f"reading {CONFIG_FILE}")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise AmfEdgeError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(config, dict) or "classes" not in config:
        raise AmfEdgeError(f"{path}: expected a mapping with at least a 'classes' list, e.g.\n{example}")
    unknown = sorted(str(k) for k in config if k not in CONFIG_KEYS)
    if unknown:
        raise AmfEdgeError(f"{path}: unknown keys {', '.join(unknown)}; valid keys: {', '.join(CONFIG_KEYS)}")
    classes = config["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes):
        raise AmfEdgeError(f"{path}: 'classes' must be a list of class names, got {classes!r}")
    palette = config.get("palette", [[int(v) for v in voc_colormap()[i + 1]] for i in range(len(classes))])
    if not isinstance(palette, list) or not all(_is_colour(c) for c in palette):
        raise AmfEdgeError(f"{path}: 'palette' must be a list of [r, g, b] colours with values 0..255, got {palette!r}")
    depth_unit = _positive_number(config.get("depth_unit", 0.001))
    if depth_unit is None:
        raise AmfEdgeError(f"{path}: 'depth_unit' must be metres per depth count > 0 (0.001 for mm), "
                           f"got {config['depth_unit']!r}")
    name = str(config.get("name", path.parent.resolve().name))
    # LabelSet itself rejects a palette whose length differs from the class list, naming both counts.
    return LabelSet(name, tuple(classes), tuple(tuple(c) for c in palette)), depth_unit


def _positive_number(value: object) -> float | None:
    # YAML 1.1 reads `1e-3` (no dot) as a string, so numeric strings are accepted too.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def _is_colour(c: object) -> bool:
    return isinstance(c, list) and len(c) == 3 and all(type(v) is int and 0 <= v <= 255 for v in c)


LAYOUT = "a folder dataset needs rgb/, depth/ and label/ subfolders"


def index_folder(folder: Path, suffixes: tuple[str, ...], layout: str = LAYOUT,
                 item: str = "files for sample") -> dict[str, Path]:
    """stem → file for the files in `folder` with one of `suffixes` (case-insensitive); two files with
    one stem are an error. `layout` and `item` word the errors for the caller (datasets, frame sources)."""
    if not folder.is_dir():
        raise AmfEdgeError(f"{folder} does not exist; {layout}")
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in suffixes and path.is_file():
            if path.stem in files:
                raise AmfEdgeError(f"{folder} has two {item} {path.stem!r}: {files[path.stem].name} and "
                                   f"{path.name}; keep one")
            files[path.stem] = path
    return files


def _read_stem_list(path: Path, known: dict[str, Path]) -> list[str]:
    stems = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    unknown = [s for s in stems if s not in known]
    if unknown:
        raise AmfEdgeError(f"{path} names samples with no file in rgb/: {_listed(unknown)}")
    return stems


def split_stems(root: Path, stems: dict[str, Path], split: str) -> list[str]:
    """The stems of `split`: from train.txt/val.txt when present, else every 10th sorted stem is val."""
    lists = {s: root / f"{s}.txt" for s in ("train", "val")}
    present = [s for s, p in lists.items() if p.is_file()]
    if len(present) == 2:
        train, val = (_read_stem_list(lists[s], stems) for s in ("train", "val"))
        both = sorted(set(train) & set(val))
        if both:
            raise AmfEdgeError(f"{root}: samples in both train.txt and val.txt: {_listed(both)}; "
                               "a validation sample must not be trained on")
        return train if split == "train" else val
    if present:
        missing = ({"train", "val"} - set(present)).pop()
        raise AmfEdgeError(f"{root} has {present[0]}.txt but no {missing}.txt; give both split lists or neither")
    ordered = sorted(stems)
    if len(ordered) < 2:
        raise AmfEdgeError(f"{root} has {len(ordered)} sample(s); the automatic train/val split needs at least 2")
    return [s for i, s in enumerate(ordered) if (i % VAL_EVERY == 0) == (split == "val")]


class FolderDataset:
    """A labelled RGB-D dataset in the folder layout of the module docstring; implements `Dataset`."""

    def __init__(self, root: str | Path, split: str = "train") -> None:
        self.root, self.split = Path(root), check_split(split)
        if not self.root.is_dir():
            raise AmfEdgeError(f"dataset folder {self.root} does not exist")
        self._labels, self.depth_unit = read_config(self.root / CONFIG_FILE)
        self.files = {name: index_folder(self.root / name, suffixes) for name, suffixes in FOLDERS.items()}
        for name in ("depth", "label"):
            missing = [s for s in self.files["rgb"] if s not in self.files[name]]
            if missing:
                raise AmfEdgeError(f"{self.root}: samples in rgb/ without a {name}/<stem>.png file: {_listed(missing)}")
        if not self.files["rgb"]:
            raise AmfEdgeError(f"{self.root / 'rgb'} holds no .png or .jpg images")
        self.stems = split_stems(self.root, self.files["rgb"], split)
        if not self.stems:
            raise AmfEdgeError(f"{self.root}: split {split!r} is empty; list samples in {split}.txt")

    @property
    def labels(self) -> LabelSet:
        return self._labels

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, index: int) -> RGBDSample:
        stem = self.stems[resolve_index(index, len(self.stems), repr(self))]
        rgb, depth, label = (self.files[name][stem] for name in FOLDERS)
        return load_labelled_sample(rgb, depth, label, self.labels, self.depth_unit,
                                    hint=f"; add the class to {CONFIG_FILE} or set those pixels to 255")

    def __repr__(self) -> str:
        return (f"FolderDataset('{self.root}', split={self.split!r}: {len(self)} samples, "
                f"{self.labels.num_classes} classes, depth_unit={self.depth_unit})")
