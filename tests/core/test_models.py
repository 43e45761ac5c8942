"""Model tests for every preset (SMP-style: small inputs, shapes, gradients, determinism) and ablations."""

import pytest
import torch
import torch.nn.functional as F

from amf_edge.config import MODALITIES
from amf_edge.errors import AmfEdgeError
from amf_edge.models import HEADS, build_model, upsample_logits
from amf_edge.models.encoder import BasicBlock
from amf_edge.models.fusion import ShuffleShift, pixel_shift
from amf_edge.models.profile import count_params
from amf_edge.presets import get_preset, preset_names

PRESETS = preset_names()
H, W = 50, 66  # deliberately not multiples of 32


def inputs(n=2, h=H, w=W, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, h, w, generator=g), torch.rand(n, 1, h, w, generator=g) * 2


@pytest.fixture(scope="module", params=PRESETS)
def preset_model(request):
    torch.manual_seed(0)
    return request.param, build_model(request.param, num_classes=7)


def test_registry_lists_all_presets():
    assert set(PRESETS) == {f"asymfusion-r{d}" for d in (18, 34, 50, 101, 152)}
    with pytest.raises(AmfEdgeError, match="valid presets: asymfusion-r18, asymfusion-r34"):
        build_model("asymfusion-r99", num_classes=7)
    with pytest.raises(AmfEdgeError, match="valid fields"):
        build_model("asymfusion-r18", num_classes=7, fuson="none")


@pytest.mark.slow
def test_output_shapes_and_heads(preset_model):
    _, model = preset_model
    model.eval()
    rgb, depth = inputs()
    with torch.no_grad():
        heads = model.forward_heads(rgb, depth)
        ensemble = model(rgb, depth)
    assert set(heads) == set(HEADS)
    for logits in heads.values():
        assert logits.shape == (2, 7, 13, 17)  # stride 4, rounded up
    assert torch.equal(ensemble, heads["ensemble"])
    assert upsample_logits(ensemble, (H, W)).shape == (2, 7, H, W)


@pytest.mark.slow
def test_gradient_reaches_every_parameter(preset_model):
    _, model = preset_model
    model.train()
    rgb, depth = inputs()
    target = torch.randint(0, 7, (2, H, W))
    heads = model.forward_heads(rgb, depth)
    loss = sum(F.cross_entropy(upsample_logits(logits, (H, W)), target) for logits in heads.values())
    model.zero_grad()
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == []


@pytest.mark.slow
def test_eval_is_deterministic_and_batch_independent(preset_model):
    _, model = preset_model
    model.eval()
    rgb, depth = inputs(n=3)
    with torch.no_grad():
        first, second = model.forward_heads(rgb, depth), model.forward_heads(rgb, depth)
        alone = model.forward_heads(rgb[1:2], depth[1:2])
    for head in HEADS:
        assert torch.equal(first[head], second[head])
        assert torch.allclose(first[head][1:2], alone[head], atol=1e-5)


def test_ensemble_is_softmax_alpha_weighted_and_trains_only_alpha():
    model = build_model("asymfusion-r18", num_classes=5).eval()
    with torch.no_grad():
        model.alpha.copy_(torch.tensor([0.7, -0.4]))
    rgb, depth = inputs()
    heads = model.forward_heads(rgb, depth)
    w = torch.softmax(torch.tensor([0.7, -0.4]), 0)
    assert torch.allclose(heads["ensemble"], w[0] * heads["rgb"] + w[1] * heads["depth"], atol=1e-6)
    model.zero_grad()
    heads["ensemble"].sum().backward()
    assert model.alpha.grad is not None and model.alpha.grad.abs().sum() > 0
    assert all(p.grad is None for n, p in model.named_parameters() if n != "alpha")


def test_inputs_are_checked():
    model = build_model("asymfusion-r18", num_classes=5).eval()
    rgb, depth = inputs()
    with pytest.raises(AmfEdgeError, match="N×1×H×W"):
        model(rgb, depth.expand(-1, 3, -1, -1))
    with pytest.raises(AmfEdgeError, match="must match"):
        model(rgb, depth[..., :-2])


@pytest.mark.parametrize("name", ["asymfusion-r18", "asymfusion-r50"])
def test_fusion_none_keeps_the_branches_independent(name):
    """Without explicit fusion the rgb head must not see depth at all; with fusion it must."""
    rgb, depth = inputs(n=1)
    other_depth = torch.rand_like(depth) * 2
    for fusion, independent in (("none", True), ("shuffle+shift", False), ("shuffle", False), ("shift", False)):
        torch.manual_seed(0)
        model = build_model(name, num_classes=5, fusion=fusion).eval()
        with torch.no_grad():
            a = model.forward_heads(rgb, depth)["rgb"]
            b = model.forward_heads(rgb, other_depth)["rgb"]
        assert torch.equal(a, b) == independent, fusion


def test_fusion_positions_follow_the_config():
    model = build_model("asymfusion-r34", num_classes=5)
    assert [n for n, _ in model.encoder.fusion_positions()] == ["layer1.2.fusion", "layer2.3.fusion", "layer3.5.fusion",
                                                                "layer4.2.fusion"]
    model = build_model("asymfusion-r101", num_classes=5, fusion_stages=(3, 2))
    assert [n for n, _ in model.encoder.fusion_positions()] == ["layer2.3.fusion", "layer3.22.fusion"]
    assert build_model("asymfusion-r18", num_classes=5, fusion="none").encoder.fusion_positions() == []


def test_private_bn_doubles_bn_parameters_and_separate_encoders_double_convs():
    base = count_params(get_preset("asymfusion-r34", num_classes=40))
    shared_bn = count_params(get_preset("asymfusion-r34", num_classes=40, batchnorm="shared"))
    separate = count_params(get_preset("asymfusion-r34", num_classes=40, encoder="separate"))
    assert base["encoder_bn"] == 2 * shared_bn["encoder_bn"] > 0
    assert base["encoder_conv"] == shared_bn["encoder_conv"]
    assert separate["encoder_conv"] == 2 * base["encoder_conv"]
    assert separate["decoder"] == base["decoder"]  # the decoder is always shared
    keys = build_model("asymfusion-r18", num_classes=5, batchnorm="shared").state_dict()
    assert "encoder.layer1.0.bn1.shared.weight" in keys and "encoder.layer1.0.bn1.rgb.weight" not in keys
    keys = build_model("asymfusion-r18", num_classes=5).state_dict()
    assert {"encoder.layer1.0.bn1.rgb.weight", "encoder.layer1.0.bn1.depth.weight",
            "encoder.layer1.0.conv1.shared.weight"} <= set(keys)


@pytest.mark.parametrize("name, millions", [("asymfusion-r50", 99.16), ("asymfusion-r101", 118.20),
                                            ("asymfusion-r152", 133.89)])
def test_parameter_counts_match_the_official_model(name, millions):
    assert round(count_params(get_preset(name, num_classes=40))["total"] / 1e6, 2) == millions


def identity_basic_block(width):
    """A fused BasicBlock whose convs are identities and whose BNs do nothing (eval mode)."""
    cfg = get_preset("asymfusion-r18", num_classes=5)
    block = BasicBlock(cfg, width, width, 1, ShuffleShift(width, shuffle=True, shift=True)).eval()
    with torch.no_grad():
        for conv in (block.conv1.module_for("rgb"), block.conv2.module_for("rgb")):
            torch.nn.init.dirac_(conv.weight)
    return block


def test_basic_block_fusion_sits_inside_the_residual_branch():
    width = 10
    block = identity_basic_block(width)
    x = {m: torch.randn(1, width, 5, 5) for m in MODALITIES}
    with torch.no_grad():
        out = block(x)
    a = {m: torch.relu(t) for m, t in x.items()}  # conv1 = identity, BN = identity
    s = 8
    for m, other in (("rgb", "depth"), ("depth", "rgb")):
        # conv2 sees [own head, other tail]; after it: head + other's shifted head, own tail back;
        # then the block's own identity is added and ReLU applied.
        branch = torch.cat([a[m][:, :s] + pixel_shift(a[other]), a[m][:, s:]], dim=1)
        assert torch.allclose(out[m], torch.relu(branch + x[m]), atol=1e-4), m  # BN eps: 1/sqrt(1 + 1e-5)


def test_depth_stem_folds_to_one_channel():
    model = build_model("asymfusion-r18", num_classes=5).eval()
    depth = torch.rand(2, 1, 32, 40)
    stem = model.encoder.conv1.module_for("depth")
    folded = model.encoder.depth_stem()
    assert folded.in_channels == 1
    with torch.no_grad():
        assert torch.allclose(folded(depth), stem(depth.expand(-1, 3, -1, -1)), atol=1e-5)


@pytest.mark.parametrize("modality", ["rgb", "depth"])
def test_single_modality_baselines_use_only_their_input(modality):
    model = build_model("asymfusion-r18", num_classes=5, modalities=(modality,), fusion="none").eval()
    assert model.heads == (modality, "ensemble") and model.alpha.shape == (1,)
    rgb, depth = inputs(n=1)
    with torch.no_grad():
        heads = model.forward_heads(rgb, depth)
        other = model.forward_heads(rgb * 2, depth) if modality == "depth" else model.forward_heads(rgb, depth * 2)
        changed = model.forward_heads(rgb, depth * 2) if modality == "depth" else model.forward_heads(rgb * 2, depth)
    assert set(heads) == {modality, "ensemble"} and torch.equal(heads["ensemble"], heads[modality])
    assert torch.equal(other[modality], heads[modality])  # the unused input changes nothing
    assert not torch.equal(changed[modality], heads[modality])
    assert not any(f".{'depth' if modality == 'rgb' else 'rgb'}." in k for k in model.state_dict())


def test_single_modality_r101_size_matches_the_spec():
    # method spec §2.8: a single-modality R101 model has 118.10 M parameters, 0.1 M less than with private BN
    assert round(count_params(get_preset("asymfusion-r101", num_classes=40, modalities=("rgb",),
                                         fusion="none"))["total"] / 1e6, 2) == 118.10


def test_single_modality_models_cannot_fuse():
    with pytest.raises(AmfEdgeError, match="nothing to fuse"):
        get_preset("asymfusion-r18", num_classes=5, modalities=("rgb",))
    with pytest.raises(AmfEdgeError, match="expected 'rgb', 'depth' or both"):
        get_preset("asymfusion-r18", num_classes=5, modalities=("ir",), fusion="none")
    assert get_preset("asymfusion-r18", num_classes=5, modalities=("depth", "rgb")).modalities == ("rgb", "depth")


def test_the_depth_gate_blinds_the_rgb_branch_to_failed_depth_only():
    """ModelConfig.depth_gate: a sample with under 40 % of its depth valid runs the RGB branch as a plain RGB
    network, whatever is left of its depth; with depth intact the network is the paper's, unchanged."""
    torch.manual_seed(0)
    plain = build_model("asymfusion-r18", num_classes=5).eval()
    gated = build_model("asymfusion-r18", num_classes=5, depth_gate=0.4).eval()
    gated.load_state_dict(plain.state_dict())
    rgb, depth = inputs(n=2)
    sparse = depth.clone()
    sparse[1] *= torch.rand(1, H, W, generator=torch.Generator().manual_seed(1)) < 0.2  # sample 1: 20 % valid
    blank = depth.clone()
    blank[1] = 0
    with torch.no_grad():
        assert torch.equal(gated.forward_heads(rgb, depth)["ensemble"], plain.forward_heads(rgb, depth)["ensemble"])
        g_sparse, g_blank = gated.forward_heads(rgb, sparse), gated.forward_heads(rgb, blank)
        p_sparse, p_blank = plain.forward_heads(rgb, sparse), plain.forward_heads(rgb, blank)
    assert torch.allclose(g_sparse["rgb"][1], g_blank["rgb"][1], atol=1e-6)
    assert not torch.allclose(p_sparse["rgb"][1], p_blank["rgb"][1], atol=1e-3)  # ungated, depth leaks in
    assert torch.allclose(g_sparse["rgb"][0], p_sparse["rgb"][0], atol=1e-6)  # sample 0's depth is intact
    # under the gate the ensemble is the RGB head: the depth head has nothing to go on (and is not trained there)
    assert torch.equal(g_blank["ensemble"][1], g_blank["rgb"][1])
    assert not torch.allclose(p_blank["ensemble"][1], p_blank["rgb"][1], atol=1e-3)
    w = torch.softmax(gated.alpha, dim=0)
    assert torch.allclose(g_blank["ensemble"][0], w[0] * g_blank["rgb"][0] + w[1] * g_blank["depth"][0], atol=1e-6)


def test_the_depth_gate_needs_a_fused_model():
    with pytest.raises(AmfEdgeError, match="depth_gate=1.5.*from 0"):
        build_model("asymfusion-r18", num_classes=5, depth_gate=1.5)
    with pytest.raises(AmfEdgeError, match="fuses nothing; set depth_gate to 0"):
        build_model("asymfusion-r18", num_classes=5, fusion="none", depth_gate=0.4)
