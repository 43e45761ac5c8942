import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.visualize import colorize_depth, mosaic, overlay

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

LABELS = LabelSet("two", ("a", "b"), ((200, 0, 0), (0, 0, 200)))


def test_overlay_blends_class_colours_and_leaves_ignore_alone():
    rgb = np.full((1, 3, 3), 100, np.uint8)
    out = overlay(rgb, np.array([[0, 1, 255]], np.uint8), LABELS, alpha=0.5)
    assert out.tolist() == [[[150, 50, 50], [50, 50, 150], [100, 100, 100]]]
    with pytest.raises(AmfEdgeError, match="labels are 2×3"):
        overlay(rgb, np.zeros((2, 3), np.uint8), LABELS)


def test_depth_colours_are_ordered_and_invalid_is_black():
    depth = np.array([[0.0, 0.5, 1.0, 2.0]], np.float32)
    out = colorize_depth(depth, max_m=2.0)
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[0, 1].tolist() != out[0, 3].tolist() and out[0, 3, 0] > out[0, 1, 0]  # far is redder
    assert colorize_depth(np.zeros((2, 2), np.float32)).sum() == 0


def test_mosaic_needs_one_height():
    a, b = np.zeros((4, 5, 3), np.uint8), np.ones((4, 2, 3), np.uint8)
    assert mosaic(a, b).shape == (4, 7, 3)
    with pytest.raises(AmfEdgeError, match="one height"):
        mosaic(a, np.zeros((3, 2, 3), np.uint8))


def test_save_image_writes_rgb_and_reports_failures(tmp_path):
    import cv2

    from amf_edge.visualize import save_image

    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red
    save_image(tmp_path / "sub" / "x.png", rgb)
    assert cv2.imread(str(tmp_path / "sub" / "x.png"))[0, 0].tolist() == [0, 0, 200]  # BGR on disk
    with pytest.raises(AmfEdgeError, match="could not write"):
        save_image(tmp_path / "x.notanimage", rgb)
