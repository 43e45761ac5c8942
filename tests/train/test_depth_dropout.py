"""Depth dropout in training: a recipe switch that removes depth from some samples, whole or in blobs (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amf_edge.errors import AmfEdgeError
from amf_edge.preprocess import PreprocessSpec
from amf_edge.synthetic import SyntheticScenes
from amf_edge.train.config import load_config
from amf_edge.train.data import DepthDropout, TrainingSet, make_loader
from amf_edge.transforms import get_train_transform


def training_set(dropout):
    scenes = SyntheticScenes(seed=0, n=24, height=48, width=64)
    return TrainingSet(scenes, get_train_transform("fast", 48, 64), PreprocessSpec(), seed=5, depth_dropout=dropout)


def tiny_both_copies_config(batch_size: int, *extra: str):
    """One epoch on 8 tiny scenes, every sample hit by paired dropout with both copies, the fusion gated at 10 %."""
    return load_config("synthetic-r18", [
        "data.train=synthetic://?seed=0&n=8&val=4&height=48&width=64", "data.height=48", "data.width=64",
        "data.workers=0", f"data.batch_size={batch_size}", "optim.stages.0.epochs=1", "data.depth_dropout=1.0",
        "data.depth_dropout_paired=true", "data.depth_dropout_both=true", "model.depth_gate=0.1", *extra])


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



def test_paired_dropout_adds_the_copy_without_depth_beside_the_intact_sample():
    """data.depth_dropout_paired: every sample stays intact in the batch; a sample hit brings its copy without
    depth, the one unpaired dropout would have trained on instead."""
    intact, dropped = training_set(DepthDropout(0.0)), training_set(DepthDropout(0.5))
    paired = training_set(DepthDropout(0.5, paired=True))
    hits = 0
    for i in range(len(paired)):
        item = paired[i]
        assert all(torch.equal(x, y) for x, y in zip(item[0], intact[i]))
        if len(item) == 2:
            hits += 1
            assert all(torch.equal(x, y) for x, y in zip(item[1], dropped[i]))
            assert not torch.equal(item[1][1], item[0][1]) and torch.equal(item[1][0], item[0][0])
        else:
            assert all(torch.equal(x, y) for x, y in zip(dropped[i], intact[i]))
    assert 0 < hits < len(paired)
    loader = make_loader(paired, batch_size=len(paired), workers=0, seed=0, rank=0, world_size=1)
    rgb, depth, label, origin = next(iter(loader))
    assert rgb.shape[0] == depth.shape[0] == label.shape[0] == len(origin) == len(paired) + hits
    # origin: every copy points at the row of its intact sample, which holds the same image and labels
    copies = origin != torch.arange(len(origin))
    assert int(copies.sum()) == hits and not copies[origin].any()
    assert torch.equal(rgb[copies], rgb[origin[copies]]) and torch.equal(label[copies], label[origin[copies]])
    assert not torch.equal(depth[copies], depth[origin[copies]])


def test_paired_dropout_needs_dropout():
    config = load_config("synthetic-r18", ["data.depth_dropout=0.5", "data.depth_dropout_paired=true"])
    assert config.data.depth_dropout_paired
    with pytest.raises(AmfEdgeError, match="data.depth_dropout is 0; set it too"):
        load_config("synthetic-r18", ["data.depth_dropout_paired=true"])


def test_both_copies_bring_one_without_depth_and_one_with_holes():
    """data.depth_dropout_both: a sample hit brings two copies beside its intact self, the first without any depth,
    the second with blobs missing; the batch grows by two per hit."""
    intact, both = training_set(DepthDropout(0.0)), training_set(DepthDropout(0.5, paired=True, both=True))
    hits = 0
    for i in range(len(both)):
        item = both[i]
        assert len(item) in (1, 3) and all(torch.equal(x, y) for x, y in zip(item[0], intact[i]))
        if len(item) == 3:
            hits += 1
            (_, gone, _), (_, holes, _) = item[1], item[2]
            assert float((gone == 0).float().mean()) == 1.0
            assert 0.1 < float((holes == 0).float().mean()) < 1.0
            assert all(torch.equal(copy[0], item[0][0]) and torch.equal(copy[2], item[0][2]) for copy in item[1:])
    assert 0 < hits < len(both)
    loader = make_loader(both, batch_size=len(both), workers=0, seed=0, rank=0, world_size=1)
    assert next(iter(loader))[0].shape[0] == len(both) + 2 * hits


def test_both_copies_need_pairing():
    config = load_config("synthetic-r18", ["data.depth_dropout=1.0", "data.depth_dropout_paired=true",
                                           "data.depth_dropout_both=true"])
    assert config.data.depth_dropout_both
    with pytest.raises(AmfEdgeError, match="set data.depth_dropout_paired=true too"):
        load_config("synthetic-r18", ["data.depth_dropout=1.0", "data.depth_dropout_both=true"])


def test_masked_head_learns_nothing_where_its_modality_is_absent():
    """data.depth_dropout_mask_head: the depth head's loss leaves out the samples the gate finds without depth (no
    gradient reaches their logits) and is the plain cross-entropy over the others; a batch with no depth at all
    gives that head a loss of 0, not 0/0; the other heads are untouched."""
    from amf_edge.train.loop import segmentation_loss

    torch.manual_seed(0)
    heads = {m: torch.randn(2, 5, 4, 4, requires_grad=True) for m in ("rgb", "depth", "ensemble")}
    label = torch.randint(0, 5, (2, 16, 16))
    label[0, :2] = 255
    unmasked = segmentation_loss(heads, label)
    everywhere = {"depth": torch.ones(2, 1, 1, 1, dtype=torch.bool)}
    assert torch.allclose(segmentation_loss(heads, label, everywhere), unmasked)

    masked = segmentation_loss(heads, label, {"depth": torch.tensor([True, False]).view(2, 1, 1, 1)})
    masked.backward()
    assert heads["depth"].grad[1].abs().max() == 0 and heads["depth"].grad[0].abs().max() > 0
    assert heads["rgb"].grad[1].abs().max() > 0
    only_first = segmentation_loss({"depth": heads["depth"][:1]}, label[:1])
    others = segmentation_loss({m: heads[m] for m in ("rgb", "ensemble")}, label)
    assert torch.allclose(masked, only_first + others)

    nowhere = segmentation_loss(heads, label, {"depth": torch.zeros(2, 1, 1, 1, dtype=torch.bool)})
    assert torch.isfinite(nowhere) and torch.allclose(nowhere, others)


def test_masking_the_head_needs_dropout_and_the_gate():
    config = load_config("synthetic-r18", ["data.depth_dropout=1.0", "model.depth_gate=0.1",
                                           "data.depth_dropout_mask_head=true"])
    assert config.data.depth_dropout_mask_head
    with pytest.raises(AmfEdgeError, match=r"data.depth_dropout=1.0 and model.depth_gate=None; set both"):
        load_config("synthetic-r18", ["data.depth_dropout=1.0", "data.depth_dropout_mask_head=true"])
    with pytest.raises(AmfEdgeError, match=r"data.depth_dropout=0.0 and model.depth_gate=0.1; set both"):
        load_config("synthetic-r18", ["model.depth_gate=0.1", "data.depth_dropout_mask_head=true"])


def test_training_masks_the_depth_head_on_the_frames_the_gate_finds_empty(tmp_path, monkeypatch, capsys):
    """The loop hands the loss the gate's verdict per sample: False on the copies without depth, True elsewhere."""
    import amf_edge.train.loop as loop

    seen = []

    def spy(heads, label, present=None):
        seen.append(present)
        return segmentation_loss(heads, label, present)

    segmentation_loss = loop.segmentation_loss
    monkeypatch.setattr(loop, "segmentation_loss", spy)
    config = tiny_both_copies_config(4, "data.depth_dropout_mask_head=true")
    loop.train(config, tmp_path / "run", progress=False)
    assert "depth dropout 1 (paired, both copies, depth head masked)" in capsys.readouterr().out
    assert seen and all(p is not None for p in seen)
    # every sample is hit: intact, no depth, holes (20-90 % missing, above the 10 % gate) in turn
    assert [bool(b) for b in seen[0]["depth"].flatten()][:3] == [True, False, True]


def test_distillation_teaches_each_copys_rgb_head_the_intact_frames_ensemble():
    """data.depth_dropout_distill: KL(intact ensemble || copy's RGB head) over the copies' pixels; the teacher and
    the intact rows learn nothing from it, a copy that already predicts what its intact frame's ensemble does adds
    nothing, and a batch without copies gives 0 with a graph to backpropagate."""
    from amf_edge.train.loop import distillation_loss

    torch.manual_seed(0)
    heads = {m: torch.randn(4, 5, 3, 3, requires_grad=True) for m in ("rgb", "depth", "ensemble")}
    origin = torch.tensor([0, 0, 0, 3])  # rows 1 and 2 are copies of row 0; row 3 is alone
    loss = distillation_loss(heads, origin)
    loss.backward()
    grad = heads["rgb"].grad
    assert grad[1:3].abs().amax() > 0 and grad[0].abs().max() == 0 and grad[3].abs().max() == 0
    assert heads["ensemble"].grad is None and heads["depth"].grad is None
    teacher = heads["ensemble"][0].softmax(0)
    expected = [(teacher * (teacher.log() - heads["rgb"][r].log_softmax(0))).sum(0).mean() for r in (1, 2)]
    assert torch.allclose(loss, sum(expected) / 2)

    learnt = {m: t.detach().clone() for m, t in heads.items()}
    learnt["rgb"][1:3] = learnt["ensemble"][0] + 3.0  # the same softmax
    assert distillation_loss(learnt, origin) < 1e-6 < distillation_loss(heads, origin)
    alone = distillation_loss({m: t[3:] for m, t in heads.items()}, torch.tensor([0]))
    assert alone.item() == 0 and alone.requires_grad


def test_distillation_needs_pairing():
    config = load_config("synthetic-r18", ["data.depth_dropout=1.0", "data.depth_dropout_paired=true",
                                           "data.depth_dropout_distill=0.5"])
    assert config.data.depth_dropout_distill == 0.5
    with pytest.raises(AmfEdgeError, match="only paired dropout keeps both in the batch"):
        load_config("synthetic-r18", ["data.depth_dropout=1.0", "data.depth_dropout_distill=0.5"])
    with pytest.raises(AmfEdgeError, match="a number >= 0"):
        load_config("synthetic-r18", ["data.depth_dropout=1.0", "data.depth_dropout_paired=true",
                                      "data.depth_dropout_distill=-1"])


def test_training_distils_each_copy_from_its_intact_frame(tmp_path, monkeypatch, capsys):
    """The loop adds the weighted distillation term with each row's origin from the loader."""
    import amf_edge.train.loop as loop

    seen = []

    def spy(heads, origin):
        seen.append(origin.tolist())
        return distillation_loss(heads, origin)

    distillation_loss = loop.distillation_loss
    monkeypatch.setattr(loop, "distillation_loss", spy)
    config = tiny_both_copies_config(2, "data.depth_dropout_distill=0.5")
    loop.train(config, tmp_path / "run", progress=False)
    assert "depth dropout 1 (paired, both copies, distilled at 0.5)" in capsys.readouterr().out
    assert seen and all(origin == [0, 0, 0, 3, 3, 3] for origin in seen)  # every sample hit: itself, two copies
