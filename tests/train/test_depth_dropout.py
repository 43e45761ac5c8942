"""Depth dropout in training: a recipe switch that removes depth from some samples, whole or in blobs (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.preprocess import PreprocessSpec
from amf_edge.synthetic import SyntheticScenes
from amf_edge.train.config import load_config
from amf_edge.train.data import DepthDropout, TrainingSet
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

