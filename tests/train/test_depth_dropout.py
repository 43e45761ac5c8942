"""Depth dropout in training: a recipe switch that removes depth from some samples, whole or in blobs (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amf_edge.errors import AmfEdgeError
from amf_edge.models import build_model
from amf_edge.models.fusion import depth_presence
from amf_edge.preprocess import PreprocessSpec
from amf_edge.synthetic import SyntheticScenes
from amf_edge.train.config import load_config
from amf_edge.train.data import DepthDropout, TrainingSet
from amf_edge.train.loop import segmentation_loss
from amf_edge.transforms import get_train_transform


def training_set(dropout):
    scenes = SyntheticScenes(seed=0, n=24, height=48, width=64)
    return TrainingSet(scenes, get_train_transform("fast", 48, 64), PreprocessSpec(), seed=5, depth_dropout=dropout)


def test_no_dropout_leaves_the_augmentation_stream_as_it_was():
    """p = 0 draws nothing from the sample's generator: runs without dropout repeat older runs exactly."""
    plain = TrainingSet(SyntheticScenes(seed=0, n=4, height=48, width=64), get_train_transform("fast", 48, 64),
                        PreprocessSpec(), seed=5)
    for a, b in zip(plain, training_set(DepthDropout(0.0))):
        assert all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(a, b))


def test_dropout_removes_depth_whole_or_in_blobs_at_the_asked_rate():
    data = training_set(DepthDropout(p=0.5, whole=0.5))
    missing = np.array([float((data[i][1] == 0).float().mean()) for i in range(len(data))])
    intact = np.array([float((d[1] == 0).float().mean()) for d in training_set(DepthDropout(0.0))])
    hit = missing > intact + 0.1
    assert 0.2 <= hit.mean() <= 0.8  # about half of the samples
    assert (missing[hit] == 1.0).any() and ((missing[hit] > 0.15) & (missing[hit] < 0.95)).any()
    rgb_same = all(np.array_equal(a[0].numpy(), b[0].numpy()) for a, b in zip(data, training_set(DepthDropout(0.5))))
    assert rgb_same  # reproducible: a function of (seed, epoch, index)
    always = training_set(DepthDropout(p=1.0, whole=1.0))
    assert all(float(always[i][1].abs().sum()) == 0.0 for i in range(4))


def test_recipe_switch_is_checked():
    config = load_config("synthetic-r18", ["data.depth_dropout=0.3"])
    assert config.data.depth_dropout == 0.3 and config.data.depth_dropout_whole == 0.5
    with pytest.raises(AmfEdgeError, match=r"data.depth_dropout is a probability in \[0, 1\], got 1.5"):
        load_config("synthetic-r18", ["data.depth_dropout=1.5"])
    with pytest.raises(AmfEdgeError, match="has no depth input"):
        load_config("synthetic-r18", ["data.depth_dropout=0.3", "model.modalities=[rgb]"])


def test_the_depth_gate_is_a_recipe_switch_of_the_model():
    config = load_config("synthetic-r18", ["data.depth_dropout=0.5", "model.depth_gate=0.4"])
    assert config.model.build_config(num_classes=5).depth_gate == 0.4
    assert load_config("synthetic-r18", []).model.build_config(num_classes=5).depth_gate == 0.0


def test_under_the_gate_a_sample_trains_only_the_rgb_head():
    """A sample whose depth failed trains the RGB branch as an RGB network, nothing else: no gradient reaches the
    depth branch's own BatchNorm or the ensemble weights, as it does without the gate."""
    torch.manual_seed(0)
    rgb, label = torch.randn(2, 3, 64, 64), torch.randint(0, 5, (2, 64, 64))
    depth = torch.zeros(2, 1, 64, 64)

    def gradients(gate: float) -> dict[str, float]:
        model = build_model("asymfusion-r18", num_classes=5, depth_gate=gate).train()
        loss = segmentation_loss(model.forward_heads(rgb, depth), label, depth_presence(depth, gate))
        loss.backward()
        norms = {n: p.grad.abs().sum().item() for n, p in model.named_parameters() if p.grad is not None}
        return {"depth BN": sum(v for n, v in norms.items() if ".depth." in n), "alpha": norms.get("alpha", 0.0),
                "rgb BN": sum(v for n, v in norms.items() if ".rgb." in n)}

    gated, ungated = gradients(0.1), gradients(0.0)
    assert gated["depth BN"] == 0 and gated["alpha"] == 0 and gated["rgb BN"] > 0
    assert ungated["depth BN"] > 0 and ungated["alpha"] > 0


def test_the_gated_loss_keeps_the_heads_of_samples_with_depth():
    torch.manual_seed(0)
    heads = {h: torch.randn(3, 5, 8, 8) for h in ("rgb", "depth", "ensemble")}
    label = torch.randint(0, 5, (3, 32, 32))
    depth = torch.rand(3, 1, 32, 32)
    depth[1] = 0  # only sample 1 lost its depth
    gated = segmentation_loss(heads, label, depth_presence(depth, 0.1))
    kept = segmentation_loss({"rgb": heads["rgb"]}, label) + segmentation_loss(
        {h: heads[h][[0, 2]] for h in ("depth", "ensemble")}, label[[0, 2]])
    assert torch.isclose(gated, kept)
    assert torch.isclose(segmentation_loss(heads, label, depth_presence(depth, 0.0)), segmentation_loss(heads, label))
