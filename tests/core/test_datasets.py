"""Dataset readers against fixtures written here in each dataset's real file layout (no torch).

Images are tiny and random, so a pixel-exact round trip proves channel order, dtype and file matching.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from amf_edge.datasets import SCHEMES, Dataset, FolderDataset, crop_align_to_mask, open_dataset, read_depth, read_rgb
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import IGNORE_INDEX, get_labels, voc_colormap
from amf_edge.synthetic import SyntheticScenes, render_scene

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

cv2 = pytest.importorskip("cv2")


# --- fixture writers ---------------------------------------------------------------------------------


def write_png(path: Path, image: np.ndarray, rgb: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image[..., ::-1] if rgb else image), path  # cv2 writes BGR


def random_triple(rng: np.random.Generator, size: tuple[int, int], num_classes: int) -> dict[str, np.ndarray]:
    label = rng.integers(0, num_classes, size, dtype=np.uint8)
    label[0, :3] = IGNORE_INDEX
    depth = rng.integers(0, 65535, size, dtype=np.uint16)  # values past 255 prove 16 bits survive
    return {"rgb": rng.integers(0, 256, (*size, 3), dtype=np.uint8), "depth": depth, "label": label}


def write_release(root: Path, lists: dict[str, int], num_classes: int, seed: int = 0) -> dict[str, list[dict]]:
    """An official-style release: rgb/, masks/, depth/ PNGs and TAB-separated list files; returns the arrays."""
    rng, written, k = np.random.default_rng(seed), {}, 0
    for list_name, n in lists.items():
        lines, written[list_name] = [], []
        for _ in range(n):
            k += 1
            name = f"{k:06d}.png"
            arrays = random_triple(rng, (6 + k % 3, 9), num_classes)
            write_png(root / "rgb" / name, arrays["rgb"], rgb=True)
            write_png(root / "masks" / name, arrays["label"])
            write_png(root / "depth" / name, arrays["depth"])
            lines.append(f"rgb/{name}\tmasks/{name}\tdepth/{name}")
            written[list_name].append(arrays)
        (root / list_name).write_text("\n".join(lines) + "\n")
    return written


def assert_same(sample, arrays: dict[str, np.ndarray]) -> None:
    for name in ("rgb", "depth", "label"):
        got = getattr(sample, name)
        assert got.dtype == arrays[name].dtype and np.array_equal(got, arrays[name]), name


@pytest.fixture
def nyu(tmp_path: Path) -> tuple[Path, dict[str, list[dict]]]:
    return tmp_path, write_release(tmp_path, {"train.txt": 3, "val.txt": 2}, 40)


# --- NYUDv2 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("split, list_name", [("train", "train.txt"), ("val", "val.txt")])
def test_nyudv2_reads_every_sample_pixel_exact(nyu, split: str, list_name: str) -> None:
    root, written = nyu
    ds = open_dataset(f"nyudv2://{root}", split)
    assert isinstance(ds, Dataset) and ds.labels is get_labels("nyudv2") and len(ds) == len(written[list_name])
    for i, arrays in enumerate(written[list_name]):
        sample = ds[i]
        assert_same(sample, arrays)
        assert sample.depth_unit == 0.001 and sample.intrinsics is None
    assert_same(ds[-1], written[list_name][-1])
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(IndexError):
        ds[-len(ds) - 1]


def test_nyudv2_repr_and_depth_unit_option(nyu) -> None:
    root, _ = nyu
    ds = open_dataset(f"nyudv2://{root}?depth_unit=0.0002", "val")
    assert ds[0].depth_unit == 0.0002
    assert "NYUDv2" in repr(ds) and "split='val'" in repr(ds) and "2 samples" in repr(ds) and "654" in repr(ds)
    assert "795" in repr(open_dataset(f"nyudv2://{root}"))


def test_list_file_errors(nyu) -> None:
    root, _ = nyu
    (root / "val.txt").unlink()
    with pytest.raises(AmfEdgeError, match=r"list file .*val\.txt does not exist"):
        open_dataset(f"nyudv2://{root}", "val")
    good = "rgb/000001.png\tmasks/000001.png\tdepth/000001.png"
    (root / "val.txt").write_text(f"{good}\n\nrgb/a.png masks/a.png depth/a.png\n")  # spaces, not TABs
    with pytest.raises(AmfEdgeError, match=r"val\.txt line 3: expected 3 TAB-separated columns .* got 1"):
        open_dataset(f"nyudv2://{root}", "val")
    (root / "val.txt").write_text("rgb/000001.png\t\tdepth/000001.png\n")
    with pytest.raises(AmfEdgeError, match="line 1: expected 3 TAB-separated"):
        open_dataset(f"nyudv2://{root}", "val")
    (root / "val.txt").write_text("\n")
    with pytest.raises(AmfEdgeError, match="lists no samples"):
        open_dataset(f"nyudv2://{root}", "val")
    with pytest.raises(AmfEdgeError, match="NYUDv2 folder .* does not exist"):
        open_dataset(f"nyudv2://{root}/nowhere")


def test_missing_images_are_reported_when_read(nyu) -> None:
    root, _ = nyu
    (root / "depth" / "000002.png").unlink()
    ds = open_dataset(f"nyudv2://{root}")  # opening only parses the list file
    ds[0]
    with pytest.raises(AmfEdgeError, match=r"depth image .*depth/000002\.png does not exist"):
        ds[1]


@pytest.mark.parametrize(
    "folder, image, message",
    [
        ("depth", np.zeros((6, 9, 3), np.uint8), "is 8-bit with 3 channels; expected a single-channel 16-bit PNG"),
        ("depth", np.zeros((6, 9), np.uint8), "is 8-bit with 1 channel; expected a single-channel 16-bit PNG"),
        ("masks", np.zeros((6, 9, 3), np.uint8), "is 8-bit with 3 channels; expected a single-channel 8-bit PNG"),
        ("masks", np.zeros((6, 9), np.uint16), "is 16-bit with 1 channel; expected a single-channel 8-bit PNG"),
        ("rgb", np.zeros((6, 9), np.uint8), "is 8-bit with 1 channel; expected an 8-bit colour image"),
        ("rgb", np.zeros((6, 9, 3), np.uint16), "is 16-bit with 3 channels; expected an 8-bit colour image"),
    ],
)
def test_wrong_image_types_say_what_was_found(nyu, folder: str, image: np.ndarray, message: str) -> None:
    root, _ = nyu
    write_png(root / folder / "000001.png", image)
    with pytest.raises(AmfEdgeError, match=rf"{folder}/000001\.png {message}"):
        open_dataset(f"nyudv2://{root}")[0]


def test_undecodable_files_and_out_of_range_classes(nyu) -> None:
    root, _ = nyu
    (root / "rgb" / "000001.png").write_bytes(b"not a png")
    with pytest.raises(AmfEdgeError, match="not an image OpenCV can decode"):
        open_dataset(f"nyudv2://{root}")[0]
    write_png(root / "masks" / "000002.png", np.full((7, 9), 40, np.uint8))
    message = r"holds values 40, but label set 'nyudv2' has 40 classes: .*0\.\.39 and 255"
    with pytest.raises(AmfEdgeError, match=message):
        open_dataset(f"nyudv2://{root}")[1]


def test_rgba_colour_images_lose_their_alpha(tmp_path: Path) -> None:
    rgba = np.random.default_rng(0).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    write_png(tmp_path / "a.png", rgba[..., [2, 1, 0, 3]])  # cv2 writes BGRA
    np.testing.assert_array_equal(read_rgb(tmp_path / "a.png"), rgba[..., :3])


def test_rgb_and_depth_larger_than_the_mask_are_centre_cropped(nyu) -> None:
    """The official CropAlignToMask: rgb/depth centre-cropped to the mask size, offsets (image − mask) // 2."""
    root, _ = nyu
    rng = np.random.default_rng(5)
    big = random_triple(rng, (11, 14), 40)
    write_png(root / "rgb" / "000001.png", big["rgb"], rgb=True)
    write_png(root / "depth" / "000001.png", big["depth"])
    write_png(root / "masks" / "000001.png", big["label"][:6, :9])
    sample = open_dataset(f"nyudv2://{root}")[0]
    assert sample.size == (6, 9)
    np.testing.assert_array_equal(sample.rgb, big["rgb"][2:8, 2:11])
    np.testing.assert_array_equal(sample.depth, big["depth"][2:8, 2:11])
    write_png(root / "masks" / "000001.png", np.zeros((12, 9), np.uint8))
    with pytest.raises(AmfEdgeError, match=r"is 11×14 but its mask is 12×9"):
        open_dataset(f"nyudv2://{root}")[0]


def test_crop_align_to_mask_directly() -> None:
    image = np.arange(7 * 10).reshape(7, 10)
    np.testing.assert_array_equal(crop_align_to_mask(image, (4, 5), "x"), image[1:5, 2:7])
    assert crop_align_to_mask(image, (7, 10), "x") is image


# --- SUN RGB-D -----------------------------------------------------------------------------------------


def test_sunrgbd_val_reads_test_txt_and_labels_are_registered(tmp_path: Path) -> None:
    written = write_release(tmp_path, {"train.txt": 2, "test.txt": 3}, 37)
    val = open_dataset(f"sunrgbd://{tmp_path}", "val")
    assert len(val) == 3 and len(open_dataset(f"sunrgbd://{tmp_path}")) == 2
    assert_same(val[2], written["test.txt"][2])
    assert "test.txt" in repr(val) and "5050" in repr(val)
    labels = get_labels("sunrgbd")
    assert val.labels is labels and labels.num_classes == 37
    assert labels.names[:3] == ("wall", "floor", "cabinet") and labels.names[-1] == "bag"
    assert labels.names[19] == "floor_mat" and labels.names[31] == "night_stand"
    assert labels.palette[0] == (128, 0, 0) and labels.palette[36] == tuple(int(v) for v in voc_colormap()[37])


def test_sunrgbd_label_offset(tmp_path: Path) -> None:
    write_release(tmp_path, {"train.txt": 1, "test.txt": 1}, 37)
    one_based = np.array([[0, 1, 2, 37], [255, 36, 5, 0]], np.uint8)
    write_png(tmp_path / "masks" / "000001.png", one_based)
    write_png(tmp_path / "rgb" / "000001.png", np.zeros((2, 4, 3), np.uint8), rgb=True)
    write_png(tmp_path / "depth" / "000001.png", np.zeros((2, 4), np.uint16))
    with pytest.raises(AmfEdgeError, match=r"holds values 37, .* open them with \?label_offset=1"):
        open_dataset(f"sunrgbd://{tmp_path}")[0]
    sample = open_dataset(f"sunrgbd://{tmp_path}?label_offset=1")[0]
    np.testing.assert_array_equal(sample.label, [[255, 0, 1, 36], [255, 35, 4, 255]])
    write_png(tmp_path / "masks" / "000001.png", np.full((2, 4), 38, np.uint8))
    with pytest.raises(AmfEdgeError, match=r"valid values are 1\.\.37 \(0 = unlabelled\) and 255") as e:
        open_dataset(f"sunrgbd://{tmp_path}?label_offset=1")[0]
    assert "label_offset=1" not in str(e.value)  # no advice to do what was already done


# --- URIs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri, split, message",
    [
        ("nyu://data", "train", "unknown dataset URI 'nyu://data'; expected one of nyudv2://, sunrgbd://, folder://"),
        ("data/rooms", "train", "for a folder of your own data use folder://data/rooms"),
        ("nyudv2://", "train", "names no folder; write nyudv2://PATH"),
        ("nyudv2://{root}?depth=1", "train", "unknown option 'depth'; valid options: depth_unit"),
        ("sunrgbd://{root}?x=1", "train", "valid options: depth_unit, label_offset"),
        ("folder://{root}?depth_unit=1", "train", r"valid options: none \(folder datasets take theirs from dataset"),
        ("nyudv2://{root}?depth_unit=0", "train", "option 'depth_unit' must be metres per depth count > 0"),
        ("nyudv2://{root}?depth_unit=mm", "train", "option 'depth_unit' must be .* got 'mm'"),
        ("nyudv2://{root}?depth_unit=1&depth_unit=2", "train", "given twice"),
        ("sunrgbd://{root}?label_offset=2", "train", "option 'label_offset' must be one of 1/0, true/false, yes/no"),
        ("nyudv2://{root}", "test", "unknown split 'test'; valid splits: train, val"),
        ("synthetic://?n=4", "test", "unknown split 'test'; valid splits: train, val"),
    ],
)
def test_uri_errors_list_the_valid_choices(nyu, uri: str, split: str, message: str) -> None:
    root, _ = nyu
    with pytest.raises(AmfEdgeError, match=message):
        open_dataset(uri.format(root=root), split)
    assert SCHEMES == ("nyudv2", "sunrgbd", "folder", "synthetic")


# --- folder://: users' own data ------------------------------------------------------------------------


def write_folder(root: Path, stems: list[str], config: str = "classes: [wall, floor, chair]\n") -> dict[str, dict]:
    rng, written = np.random.default_rng(1), {}
    for stem in stems:
        arrays = written[stem] = random_triple(rng, (5, 8), 3)
        write_png(root / "rgb" / f"{stem}.png", arrays["rgb"], rgb=True)
        write_png(root / "depth" / f"{stem}.png", arrays["depth"])
        write_png(root / "label" / f"{stem}.png", arrays["label"])
    (root / "dataset.yaml").write_text(config)
    return written


@pytest.fixture
def yaml_module():
    return pytest.importorskip("yaml")


def test_folder_reads_samples_and_splits_every_tenth_sorted_stem_into_val(tmp_path: Path, yaml_module) -> None:
    stems = [f"frame_{i:03d}" for i in range(23)]
    written = write_folder(tmp_path, stems[::-1], "classes: [wall, floor, chair]\ndepth_unit: 1e-4\nname: rooms\n")
    train, val = open_dataset(f"folder://{tmp_path}"), open_dataset(f"folder://{tmp_path}", "val")
    assert isinstance(train, FolderDataset) and isinstance(val, Dataset)
    assert val.stems == ["frame_000", "frame_010", "frame_020"] and len(train) == 20
    assert not set(train.stems) & set(val.stems)
    assert_same(val[1], written["frame_010"])
    assert val[0].depth_unit == 1e-4
    assert train.labels.name == "rooms" and train.labels.names == ("wall", "floor", "chair")
    assert train.labels.palette == tuple(tuple(int(v) for v in voc_colormap()[i + 1]) for i in range(3))
    assert "20 samples" in repr(train) and "3 classes" in repr(train)


def test_folder_split_lists_jpeg_and_palette(tmp_path: Path, yaml_module) -> None:
    write_folder(tmp_path, ["a", "b", "c"], "classes: [x, y, z]\npalette: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\n")
    (tmp_path / "rgb" / "c.png").unlink()
    cv2.imwrite(str(tmp_path / "rgb" / "c.JPG"), np.full((5, 8, 3), (10, 20, 200), np.uint8))  # BGR
    (tmp_path / "train.txt").write_text("a\nc\n\n")
    (tmp_path / "val.txt").write_text("b\n")
    train = open_dataset(f"folder://{tmp_path}")
    assert train.stems == ["a", "c"] and open_dataset(f"folder://{tmp_path}", "val").stems == ["b"]
    assert np.abs(train[1].rgb.astype(int) - (200, 20, 10)).max() <= 3  # jpeg, RGB order
    assert train.labels.palette == ((1, 2, 3), (4, 5, 6), (7, 8, 9)) and train.labels.name == tmp_path.name


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda r: (r / "val.txt").unlink(), "has train.txt but no val.txt; give both split lists or neither"),
        (lambda r: (r / "val.txt").write_text("s00\nghost\n"), "val.txt names samples with no file in rgb/: ghost"),
        (lambda r: (r / "val.txt").write_text("s01\n"), "samples in both train.txt and val.txt: s01"),
        (lambda r: (r / "val.txt").write_text("\n"), "split 'val' is empty"),
    ],
)
def test_folder_split_list_errors(tmp_path: Path, yaml_module, setup, message: str) -> None:
    write_folder(tmp_path, ["s00", "s01", "s02"])
    (tmp_path / "train.txt").write_text("s01\ns02\n")
    (tmp_path / "val.txt").write_text("s00\n")
    setup(tmp_path)
    with pytest.raises(AmfEdgeError, match=message):
        open_dataset(f"folder://{tmp_path}", "val")


def test_folder_stem_mismatches_list_up_to_five(tmp_path: Path, yaml_module) -> None:
    write_folder(tmp_path, [f"s{i}" for i in range(8)])
    for i in range(7):
        (tmp_path / "label" / f"s{i}.png").unlink()
    with pytest.raises(AmfEdgeError, match=r"without a label/<stem>\.png file: s0, s1, s2, s3, s4 and 2 more$"):
        open_dataset(f"folder://{tmp_path}")
    (tmp_path / "depth" / "s7.png").unlink()
    with pytest.raises(AmfEdgeError, match=r"without a depth/<stem>\.png file: s7$"):
        open_dataset(f"folder://{tmp_path}")


def test_folder_layout_errors(tmp_path: Path, yaml_module) -> None:
    write_folder(tmp_path, ["only"])
    with pytest.raises(AmfEdgeError, match="automatic train/val split needs at least 2"):
        open_dataset(f"folder://{tmp_path}")
    cv2.imwrite(str(tmp_path / "rgb" / "only.jpg"), np.zeros((5, 8, 3), np.uint8))
    with pytest.raises(AmfEdgeError, match="two files for sample 'only': only.jpg and only.png"):
        open_dataset(f"folder://{tmp_path}")
    (tmp_path / "rgb" / "only.jpg").unlink()
    (tmp_path / "dataset.yaml").unlink()
    with pytest.raises(AmfEdgeError, match=r"dataset\.yaml does not exist; .* classes"):
        open_dataset(f"folder://{tmp_path}")
    with pytest.raises(AmfEdgeError, match="dataset folder .* does not exist"):
        open_dataset(f"folder://{tmp_path}/missing")


@pytest.mark.parametrize(
    "config, message",
    [
        ("classes: [a, b\n", "is not valid YAML"),
        ("- a\n- b\n", "expected a mapping with at least a 'classes' list"),
        ("names: [a, b]\n", "expected a mapping with at least a 'classes' list"),
        ("classes: [a, b]\ncolours: []\n", "unknown keys colours; valid keys: classes, palette, depth_unit, name"),
        ("classes: a\n", "'classes' must be a list of class names"),
        ("classes: [a, b]\npalette: [[1, 2, 3]]\n", "2 class names but 1 palette colours"),
        ("classes: [a, b]\npalette: [[1, 2, 300], [0, 0, 0]]\n", "'palette' must be a list of \\[r, g, b\\] colours"),
        ("classes: [a, b]\ndepth_unit: -1\n", "'depth_unit' must be metres per depth count > 0"),
        ("classes: [a, b]\ndepth_unit: true\n", "'depth_unit' must be metres per depth count > 0"),
    ],
)
def test_bad_dataset_yaml(tmp_path: Path, yaml_module, config: str, message: str) -> None:
    write_folder(tmp_path, ["a", "b"], config)
    with pytest.raises(AmfEdgeError, match=message):
        open_dataset(f"folder://{tmp_path}")


def test_folder_labels_beyond_the_classes_name_the_fix(tmp_path: Path, yaml_module) -> None:
    write_folder(tmp_path, ["a", "b"], "classes: [x, y]\n")  # the written masks use ids 0..2
    ds = open_dataset(f"folder://{tmp_path}")
    message = r"holds values 2, .* add the class to dataset\.yaml or set those pixels to 255"
    with pytest.raises(AmfEdgeError, match=message):
        ds[0]


def test_folder_without_pyyaml_names_the_package(tmp_path: Path, monkeypatch) -> None:
    write_folder(tmp_path, ["a", "b"])
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes `import yaml` fail as if it were not installed
    with pytest.raises(AmfEdgeError, match=re.escape('pip install "amf-edge[runtime]"')):
        open_dataset(f"folder://{tmp_path}")


# --- synthetic:// ----------------------------------------------------------------------------------------


def test_synthetic_splits_sizes_and_train_compatibility() -> None:
    uri = "synthetic://?seed=3&n=9&height=32&width=48"
    train, val = open_dataset(uri), open_dataset(uri, "val")
    assert (len(train), len(val), len(open_dataset(uri + "&val=5", "val"))) == (9, 2, 5)
    assert len(open_dataset("synthetic://?n=2", "val")) == 1
    assert isinstance(train, Dataset) and isinstance(val, Dataset)
    # Training scenes are exactly what SyntheticScenes gave before splits existed.
    assert train.scene_seed(4) == SyntheticScenes(seed=3, n=9).scene_seed(4)
    assert int(np.random.SeedSequence((3, 4)).generate_state(1, np.uint64)[0]) == train.scene_seed(4)
    assert "split='val'" in repr(val)
    with pytest.raises(AmfEdgeError, match="val must be >= 1"):
        open_dataset(uri + "&val=0", "val")


def test_synthetic_validation_scenes_never_repeat_training_scenes() -> None:
    train, val = SyntheticScenes(seed=0, n=500), SyntheticScenes(seed=0, n=500, split="val")
    assert not {train.scene_seed(i) for i in range(500)} & {val.scene_seed(i) for i in range(500)}
    train_depths = [s.depth for s in SyntheticScenes(seed=0, n=6, height=32, width=48)]
    val_depths = [s.depth for s in SyntheticScenes(seed=0, n=6, height=32, width=48, split="val")]
    assert not any(np.array_equal(t, v) for t in train_depths for v in val_depths)
    assert np.array_equal(val_depths[2], render_scene(val.scene_seed(2), 32, 48).depth)


def test_depth_reader_keeps_raw_16_bit_counts(tmp_path: Path) -> None:
    depth = np.array([[0, 1, 255, 256], [1000, 4095, 65534, 65535]], np.uint16)
    write_png(tmp_path / "d.png", depth)
    got = read_depth(tmp_path / "d.png")
    assert got.dtype == np.uint16 and np.array_equal(got, depth)
