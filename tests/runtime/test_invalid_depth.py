"""Invalid depth (NaN, ±inf, negative, beyond MAX_DEPTH_M) becomes "no measurement" (0) before the model, and is
counted in the run's summary: one NaN must not turn a whole frame into one class (issue 14).

Torch-free: the model is a hand-written ONNX graph that, like a CNN, spreads a NaN anywhere in the depth to
every pixel (labels = argmax of the colour channels + 0 × the mean depth)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from amf_edge.sample import MAX_DEPTH_M, RGBDSample, sanitize_depth_m
from amf_edge.testing import toy_model

pytestmark = pytest.mark.edge
H, W = 24, 32


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from amf_edge.runtime.backends import open_backend

    with open_backend(toy_model(tmp_path_factory.mktemp("depth") / "toy.onnx", H, W)) as b:
        yield b


def frame_rgb(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), np.uint8)


def test_sanitize_depth_m_zeroes_every_invalid_value_and_counts_them():
    depth = np.array([np.nan, np.inf, -np.inf, -0.5, MAX_DEPTH_M * 2, 3.5, 0.0, MAX_DEPTH_M], np.float32)
    clean, n = sanitize_depth_m(depth.copy())
    assert n == 5 and clean.dtype == np.float32
    assert clean.tolist() == [0, 0, 0, 0, 0, 3.5, 0, MAX_DEPTH_M]
    assert sanitize_depth_m(np.array([1.0, 2.0]))[1] == 0  # float64 in: float32 out, nothing invalid


@pytest.mark.parametrize("unit, invalid", [(1e300, H * W), (float("inf"), H * W), (0.1, 3), (0.001, 0)])
def test_depth_m_never_hands_on_an_invalid_value(unit, invalid):
    depth = np.full((H, W), 1000, np.uint16)
    depth[0, :3] = 60000  # 6 km at 0.1 m per count
    depth[1, 0] = 0
    sample = RGBDSample(frame_rgb(), depth, unit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        metres = sample.depth_m()
        assert sample.invalid_depth_pixels() == invalid
    assert metres.dtype == np.float32 and np.isfinite(metres).all() and (metres >= 0).all()
    assert (metres <= MAX_DEPTH_M).all() and metres[1, 0] == 0


def test_a_frame_with_nan_pixels_segments_like_the_same_frame_with_zeros_there(backend):
    rgb = frame_rgb(1)[None]
    depth = np.random.default_rng(2).uniform(0.5, 5, (1, H, W)).astype(np.float32)
    holes = np.zeros((1, H, W), bool)
    holes[0, 3:11, 5:13] = True  # 64 pixels, as in the issue
    with_nan, with_zeros = depth.copy(), depth.copy()
    with_nan[holes], with_zeros[holes] = np.nan, 0.0
    expected = backend.infer({"rgb": rgb, "depth": with_zeros})["labels"]
    assert len(np.unique(expected)) == 3
    poisoned = backend.infer({"rgb": rgb, "depth": with_nan})["labels"]
    assert len(np.unique(poisoned)) == 1  # unsanitized, the NaN turns the whole frame into one class
    clean, n = sanitize_depth_m(with_nan)
    assert n == 64
    assert np.array_equal(backend.infer({"rgb": rgb, "depth": clean})["labels"], expected)


def write_folder(root, depth_counts):
    cv2 = pytest.importorskip("cv2")
    for folder in ("rgb", "depth"):
        (root / folder).mkdir(parents=True)
    for i, counts in enumerate(depth_counts):
        cv2.imwrite(str(root / "rgb" / f"{i:06d}.png"), frame_rgb(10 + i)[..., ::-1])
        cv2.imwrite(str(root / "depth" / f"{i:06d}.png"), counts)
    return root


def test_an_absurd_depth_unit_no_longer_turns_every_label_into_one_class(backend, tmp_path, capsys):
    """folder://…?depth_unit=1e300 overflowed float32 (inf, and NaN where the count is 0): every label was one
    class. Now that depth is no measurement: the frames segment as with no depth at all, and the run says so."""
    from amf_edge.cli.main import main
    from amf_edge.runtime.sources import open_source

    counts = np.random.default_rng(3).integers(0, 5000, (H, W)).astype(np.uint16)
    counts[:4] = 0
    bad = write_folder(tmp_path / "bad", [counts, counts])
    empty = write_folder(tmp_path / "empty", [np.zeros((H, W), np.uint16)] * 2)
    with open_source(f"folder://{bad}?depth_unit=1e300") as a, open_source(f"folder://{empty}") as b:
        for fa, fb in zip(a, b):
            labels = backend.infer(backend.contract.inputs(fa.sample))["labels"]
            assert np.array_equal(labels, backend.infer(backend.contract.inputs(fb.sample))["labels"])
            assert len(np.unique(labels)) == 3
    stats = tmp_path / "stats.json"
    assert main(["run", str(backend.path), "--source", f"folder://{bad}?depth_unit=1e300",
                 "--sink", f"stats://{stats}"]) == 0
    assert "warning: 2 frames had invalid depth" in capsys.readouterr().out
    summary = json.loads(stats.read_text())["summary"]
    assert summary["invalid_depth"] == {"frames": 2, "pixels": 2 * H * W}
    assert main(["run", str(backend.path), "--source", f"folder://{empty}", "--sink", f"stats://{stats}"]) == 0
    assert json.loads(stats.read_text())["summary"]["invalid_depth"] == {"frames": 0, "pixels": 0}
