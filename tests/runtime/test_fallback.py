"""The depth fallback: the RGB head's labels while depth fails, with hysteresis, counted and said (issue 18).

Torch-free: the model is amf_edge/testing.py's, with a `labels_rgb` output that differs from its `labels`."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from amf_edge.contract import ModelContract
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.runtime.fallback import FALLBACK_NOTE, DepthFallback, FallbackPolicy, describe, valid_depth_share
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sinks.base import Sink
from amf_edge.runtime.sources.base import Source
from amf_edge.sample import RGBDSample
from amf_edge.testing import toy_model

pytestmark = pytest.mark.edge
H, W = 24, 32


def contract(outputs=("labels", "labels_rgb"), depth_dropout=0.5, depth_gate=0.0):
    return ModelContract(H, W, "RGB", outputs, LabelSet.generic(3),
                         metadata={"depth_dropout": depth_dropout, "model_config": {"depth_gate": depth_gate}})


def depth_with_share(share):
    depth = np.zeros((H, W), np.float32)
    depth.flat[: round(share * H * W)] = 2.0
    return depth


def test_valid_depth_share_counts_measurements():
    assert valid_depth_share(depth_with_share(0.25)) == pytest.approx(0.25, abs=1 / (H * W))
    assert valid_depth_share(np.zeros((0,), np.float32)) == 0.0


def test_hysteresis_enters_at_once_and_leaves_after_settled_frames():
    fb = DepthFallback("auto", contract(), FallbackPolicy(enter=0.4, leave=0.6, settle=3))
    shares = [1.0, 0.9, 0.1, 0.5, 0.7, 0.5, 0.7, 0.7, 0.7, 0.9, 0.3]
    active = [fb.update(depth_with_share(s)) for s in shares]
    # falls back on the first failed frame; 0.5 is between the thresholds (no change, and it resets the count);
    # three frames above 0.6 in a row bring the ensemble back; a new failure falls back again
    assert active == [False, False, True, True, True, True, True, True, False, False, True]
    s = fb.stats()
    assert s["depth_failed_frames"] == 2 and s["fallback_frames"] == 7 and s["switches"] == 3


def test_the_fallback_enters_where_the_models_depth_gate_closes():
    assert DepthFallback("auto", contract()).policy == FallbackPolicy()
    gated = DepthFallback("auto", contract(depth_gate=0.25))
    assert (gated.policy.enter, gated.policy.leave) == (0.25, 0.6)
    assert [gated.update(depth_with_share(s)) for s in (0.3, 0.2)] == [False, True]
    assert DepthFallback("auto", contract(depth_gate=0.5)).policy.leave == pytest.approx(0.7)
    assert DepthFallback("auto", contract(), FallbackPolicy(enter=0.1)).policy.enter == 0.1


def test_apply_hands_out_the_rgb_head_and_drops_what_describes_the_ensemble():
    outputs = {"labels": np.zeros((H, W), np.uint8), "labels_rgb": np.ones((H, W), np.uint8),
               "overlay": np.zeros((H, W, 3), np.uint8), "confidence": np.ones((H, W), np.float32)}
    chosen = DepthFallback.apply(outputs)
    assert set(chosen) == {"labels", "labels_rgb"} and (chosen["labels"] == 1).all()


def test_off_and_models_without_the_rgb_head_never_fall_back_but_count_failures():
    for fb in (DepthFallback("off", contract()), DepthFallback("auto", contract(outputs=("labels",)))):
        assert not any(fb.update(depth_with_share(0.0)) for _ in range(4))
        assert fb.stats()["depth_failed_frames"] == 4 and fb.stats()["fallback_frames"] == 0
    assert "no labels_rgb output" in describe(DepthFallback("auto", contract(outputs=("labels",))).stats()
                                              | {"depth_failed_frames": 4})
    with pytest.raises(AmfEdgeError, match="expected one of auto, off"):
        DepthFallback("on", contract())
    with pytest.raises(AmfEdgeError, match="enter ≤ leave"):
        FallbackPolicy(enter=0.7, leave=0.5)


def test_summary_warns_when_the_model_was_not_trained_for_it():
    fb = DepthFallback("auto", contract(depth_dropout=None))
    fb.update(depth_with_share(0.0))
    assert "not trained with depth dropout" in describe(fb.stats())
    assert describe(DepthFallback("auto", contract()).stats()) is None  # depth never failed: nothing to say


class DarkeningSource(Source):
    """`n` frames of noise whose depth goes dark from frame `dark_from` on."""

    def __init__(self, n, dark_from):
        super().__init__(f"fake://?n={n}")
        self.n, self.dark_from = n, dark_from

    def __iter__(self):
        rng = np.random.default_rng(0)
        for i in range(self.n):
            rgb = rng.integers(0, 256, (H, W, 3), np.uint8)
            depth = np.full((H, W), 0 if i >= self.dark_from else 1500, np.uint16)
            yield Frame(RGBDSample(rgb, depth, 0.001), i, i / 30, time.perf_counter())


class CollectSink(Sink):
    """Keeps each frame's picture and labels."""

    def __init__(self):
        super().__init__("collect://")
        self.results, self.notes = [], []

    def write(self, result):
        self.results.append((result.frame.sample.rgb.copy(), result.labels.copy()))
        self.notes.append(result.notes)


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_pipeline_uses_the_rgb_head_where_depth_went_dark(tmp_path, mode):
    pytest.importorskip("onnxruntime")
    from amf_edge.runtime.backends import open_backend
    from amf_edge.runtime.pipeline import Pipeline, format_summary

    collect = CollectSink()
    with open_backend(toy_model(tmp_path / "toy.onnx", H, W, rgb_head=True, depth_dropout=0.5)) as backend:
        summary = Pipeline(DarkeningSource(8, dark_from=4), backend, [collect], policy="lossless",
                           depth_fallback=mode, echo=False).run()
    assert len(collect.results) == 8
    for i, (rgb, labels) in enumerate(collect.results):
        ensemble, rgb_head = rgb.argmax(2), rgb.argmin(2)
        assert np.array_equal(labels, rgb_head if (mode == "auto" and i >= 4) else ensemble), i
    assert collect.notes == [()] * 4 + [(FALLBACK_NOTE,) if mode == "auto" else ()] * 4
    stats = summary["depth_fallback"]
    assert stats["depth_failed_frames"] == 4
    assert stats["fallback_frames"] == (4 if mode == "auto" else 0)
    assert ("4 frames on the RGB head's labels" in format_summary(summary)) == (mode == "auto")


def test_run_cli_counts_fallback_frames_in_its_summary(tmp_path):
    """A real `amf-edge run` on a folder recording whose depth goes dark halfway keeps segmenting."""
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("onnxruntime")
    model = toy_model(tmp_path / "toy.onnx", H, W, rgb_head=True, depth_dropout=0.5)
    for folder in ("rgb", "depth"):
        (tmp_path / "rec" / folder).mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(10):
        cv2.imwrite(str(tmp_path / "rec" / "rgb" / f"{i:06d}.png"), rng.integers(0, 256, (H, W, 3), np.uint8))
        cv2.imwrite(str(tmp_path / "rec" / "depth" / f"{i:06d}.png"),
                    np.full((H, W), 0 if i >= 5 else 1200, np.uint16))
    run = [sys.executable, "-m", "amf_edge.cli.main", "run", str(model), "--source", f"folder://{tmp_path / 'rec'}",
           "--sink", f"stats://{tmp_path / 'stats.json'}"]
    done = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "depth failed on 5 frames" in done.stdout and "5 frames on the RGB head's labels" in done.stdout
    off = subprocess.run([*run, "--depth-fallback", "off"], capture_output=True, text=True, timeout=120)
    assert off.returncode == 0 and "--depth-fallback off" in off.stdout


def test_the_overlay_says_when_the_labels_come_from_the_rgb_head():
    pytest.importorskip("cv2")
    from amf_edge.runtime.sinks.base import Result, SinkContext
    from amf_edge.runtime.sinks.views import render

    context = SinkContext(labels=LabelSet.generic(3), channel_order="RGB", policy="live", backend={})
    frame = Frame(RGBDSample(np.full((96, 128, 3), 90, np.uint8), np.zeros((96, 128), np.uint16), 0.001), 0, 0.0, 0.0)
    labels = np.zeros((96, 128), np.uint8)
    plain = render(Result(frame, {"labels": labels}, {}), "overlay", context)
    noted = Result(frame, {"labels": labels}, {}, notes=(FALLBACK_NOTE,))
    changed = np.argwhere((render(noted, "overlay", context) != plain).any(2))
    assert len(changed) > 50 and changed[:, 0].min() > 96 // 2  # text, in the bottom half (status lines: top)
    assert np.array_equal(render(noted, "mask", context), render(Result(frame, {"labels": labels}, {}), "mask",
                                                                  context))  # masks stay pure labels
    side = render(noted, "side", context)
    assert np.array_equal(side[:, :128], render(noted, "overlay", context))
