"""BN folding: every layout computes the unfolded eval model, for every preset and ablation."""

import pytest
import torch

from amf_edge.convert.fold import LAYOUTS, fold
from amf_edge.errors import AmfEdgeError
from amf_edge.models import build_model
from amf_edge.presets import preset_names


def randomised(model):
    """Non-trivial BN statistics and affine parameters, so folding has something to fold."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) * 0.6 - 0.3)
        model.alpha.copy_(torch.rand(model.alpha.shape, generator=g))
    return model.eval()


def assert_same_function(model, folded, h=50, w=66):
    g = torch.Generator().manual_seed(1)
    rgb, depth = torch.randn(2, 3, h, w, generator=g), torch.rand(2, 1, h, w, generator=g) * 2
    depth[1] *= torch.rand(1, h, w, generator=g) < 0.3  # sample 1 lost most of its depth (the depth gate's case)
    with torch.no_grad():
        ref, out = model.forward_heads(rgb, depth), folded.forward_heads(rgb, depth)
    assert set(out) == set(ref)
    for head in ref:
        assert (out[head] - ref[head]).abs().max().item() <= 1e-4, head
        assert torch.equal(out[head].argmax(1), ref[head].argmax(1)), head


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("preset", preset_names())
def test_every_layout_equals_the_unfolded_model(preset, layout):
    torch.manual_seed(0)
    model = randomised(build_model(preset, num_classes=9))
    assert_same_function(model, fold(model, layout))


@pytest.mark.parametrize("overrides", [
    {"fusion": "shuffle"}, {"fusion": "shift"}, {"fusion": "none"}, {"batchnorm": "shared"},
    {"fusion_stages": (2, 4)}, {"modalities": ("depth",), "fusion": "none"}, {"modalities": ("rgb",), "fusion": "none"},
    {"depth_gate": 0.4}, {"depth_gate": 0.4, "fusion_align": 8},
])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_follow_the_ablation_switches(layout, overrides):
    torch.manual_seed(0)
    model = randomised(build_model("asymfusion-r18", num_classes=5, **overrides))
    assert_same_function(model, fold(model, layout), h=40, w=48)


@pytest.mark.parametrize("layout", ["split", "grouped"])
def test_separate_encoders_fold_in_split_and_grouped(layout):
    model = randomised(build_model("asymfusion-r18", num_classes=5, encoder="separate"))
    assert_same_function(model, fold(model, layout), h=40, w=48)


def test_batched_layout_needs_a_shared_encoder():
    with pytest.raises(AmfEdgeError, match="separate encoders"):
        fold(build_model("asymfusion-r18", num_classes=5, encoder="separate"), "batched")
    with pytest.raises(AmfEdgeError, match="choose one of: split, batched, grouped"):
        fold(build_model("asymfusion-r18", num_classes=5), "diagonal")


def test_folded_graphs_hold_no_batchnorm_and_store_what_their_layout_needs():
    model = randomised(build_model("asymfusion-r18", num_classes=5))
    for layout in LAYOUTS:
        folded = fold(model, layout)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    conv = fold(model, "grouped").stages[0][0].conv1
    assert conv.weight.shape[0] == 2 * 64 and conv.groups == 2  # both modalities' folded weights, one conv
    conv = fold(model, "batched").stages[0][0].conv1
    # one shared weight + per-modality affine
    assert conv.weight.shape[0] == 64 and conv.scale.shape == (2, 1, 64, 1, 1)
    assert fold(model, "split").stems[1].weight[0].shape[1] == 1  # the depth stem takes one channel
