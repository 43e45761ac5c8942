"""Depth holes: blobs of missing depth covering a given share of the frame (training's depth dropout and the
depth-failure experiment use them)."""

from __future__ import annotations

import numpy as np
import pytest

from amf_edge.depth_holes import hole_mask, remove_depth
from amf_edge.sample import RGBDSample

pytestmark = pytest.mark.edge
cv2 = pytest.importorskip("cv2")


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("shape", [(120, 160), (97, 61)])
def test_masks_cover_the_fraction_in_a_few_blobs(fraction, shape):
    mask = hole_mask(shape, fraction, np.random.default_rng(3))
    assert mask.shape == shape and mask.dtype == bool
    assert mask.mean() == pytest.approx(fraction, abs=2 / mask.size)
    if 0 < fraction < 1:
        # regions, not salt-and-pepper: few connected components, each large
        n, _ = cv2.connectedComponents(mask.astype(np.uint8))
        assert n - 1 <= 12 and mask.sum() / (n - 1) > 0.02 * mask.size


def test_masks_depend_on_the_generator_only():
    a, b = (hole_mask((60, 80), 0.5, np.random.default_rng(s)) for s in (1, 1))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, hole_mask((60, 80), 0.5, np.random.default_rng(2)))


def test_remove_depth_zeroes_depth_only_and_leaves_the_sample_untouched():
    rgb = np.full((40, 50, 3), 9, np.uint8)
    sample = RGBDSample(rgb, np.full((40, 50), 1234, np.uint16), 0.001, label=np.zeros((40, 50), np.uint8))
    holed = remove_depth(sample, 0.3, np.random.default_rng(0))
    assert (holed.depth == 0).mean() == pytest.approx(0.3, abs=0.01)
    assert set(np.unique(holed.depth)) == {0, 1234}
    assert (sample.depth == 1234).all() and holed.rgb is sample.rgb and holed.label is sample.label
    assert (remove_depth(sample, 1.0, np.random.default_rng(0)).depth == 0).all()
