"""The fusion operations against hand-computed expectations on tiny tensors."""

import pytest
import torch

from amf_edge.models.fusion import ShuffleShift, channel_shuffle, pixel_shift, split_channels


@pytest.mark.parametrize("channels, expected", [(64, (12, 48)), (128, (25, 100)), (256, (51, 204)), (512, (102, 408)),
                                                (10, (2, 8))])
def test_split_channels_matches_the_official_table(channels, expected):
    assert split_channels(channels) == expected


def coded(modality_code: int, channels: int, size: int = 2) -> torch.Tensor:
    """1×C×size×size tensor whose every value is 100*modality + channel index."""
    c = torch.arange(channels, dtype=torch.float32).view(1, channels, 1, 1)
    return (100 * modality_code + c).expand(1, channels, size, size).clone()


def test_channel_shuffle_swaps_exactly_the_tail():
    x = {"rgb": coded(1, 10), "depth": coded(2, 10)}  # g=2, s=8: tail is channels 8, 9
    out = channel_shuffle(x)
    assert out["rgb"][0, :, 0, 0].tolist() == [100, 101, 102, 103, 104, 105, 106, 107, 208, 209]
    assert out["depth"][0, :, 0, 0].tolist() == [200, 201, 202, 203, 204, 205, 206, 207, 108, 109]
    back = channel_shuffle(out)
    assert torch.equal(back["rgb"], x["rgb"]) and torch.equal(back["depth"], x["depth"])


def test_pixel_shift_moves_each_group_one_pixel_with_zero_fill():
    img = torch.tensor([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])
    x = img.expand(1, 5, 3, 3).clone()  # C=5: g=1, four single-channel groups, tail channel 4 dropped
    out = pixel_shift(x)
    assert out.shape == (1, 4, 3, 3)
    down = [[0, 0, 0], [1, 2, 3], [4, 5, 6]]
    right = [[0, 1, 2], [0, 4, 5], [0, 7, 8]]
    left = [[2, 3, 0], [5, 6, 0], [8, 9, 0]]
    up = [[4, 5, 6], [7, 8, 9], [0, 0, 0]]
    for group, expected in enumerate([down, right, left, up]):
        assert out[0, group].tolist() == expected, f"group {group}"


def test_pixel_shift_groups_cover_g_channels_each():
    x = coded(0, 10, size=3)  # g=2: channels (0,1) down, (2,3) right, (4,5) left, (6,7) up
    out = pixel_shift(x)
    assert out.shape[1] == 8
    assert out[0, :2, 0].abs().sum() == 0 and out[0, :2, 1:, :].tolist() == x[0, :2, :2, :].tolist()
    assert out[0, 6:8, -1].abs().sum() == 0 and out[0, 6:8, :2, :].tolist() == x[0, 6:8, 1:, :].tolist()


def test_shuffle_shift_adds_the_other_modality_and_swaps_back():
    a = {"rgb": torch.randn(1, 10, 4, 4), "depth": torch.randn(1, 10, 4, 4)}
    fusion = ShuffleShift(10, shuffle=True, shift=True)
    captured = {}

    def middle(x):  # an identity "conv" that records what entered it
        captured.update(x)
        return {m: t.clone() for m, t in x.items()}

    out = fusion(a, middle)
    s = 8
    assert torch.equal(captured["rgb"][:, s:], a["depth"][:, s:])  # shuffled before the middle conv
    # After: own head + the other modality's shifted head; the tail is back home.
    assert torch.allclose(out["rgb"][:, :s], a["rgb"][:, :s] + pixel_shift(a["depth"]))
    assert torch.allclose(out["depth"][:, :s], a["depth"][:, :s] + pixel_shift(a["rgb"]))
    assert torch.equal(out["rgb"][:, s:], a["rgb"][:, s:])
    assert torch.equal(out["depth"][:, s:], a["depth"][:, s:])


def test_a_branch_imports_nothing_from_an_absent_modality():
    """ModelConfig.depth_gate: sample 1's depth is absent, so its RGB branch keeps its own tail and gets no shifted
    depth head; sample 0 fuses as always."""
    x = {"rgb": torch.cat([coded(1, 10)] * 2), "depth": torch.cat([coded(2, 10)] * 2)}
    present = {"depth": torch.tensor([True, False]).view(2, 1, 1, 1)}
    out = channel_shuffle(x, present=present)
    assert out["rgb"][:, 8:, 0, 0].tolist() == [[208, 209], [108, 109]]
    assert out["depth"][:, 8:, 0, 0].tolist() == [[108, 109], [108, 109]]

    a = {"rgb": torch.randn(2, 10, 4, 4), "depth": torch.randn(2, 10, 4, 4)}
    fused = ShuffleShift(10, shuffle=True, shift=True)(a, lambda t: dict(t), present)
    plain = ShuffleShift(10, shuffle=True, shift=True)(a, lambda t: dict(t))
    assert torch.equal(fused["rgb"][1], a["rgb"][1])  # the identity "conv": nothing of depth came in
    assert torch.equal(fused["rgb"][0], plain["rgb"][0]) and torch.equal(fused["depth"][0], plain["depth"][0])
    assert not torch.equal(plain["rgb"][1], a["rgb"][1])


@pytest.mark.parametrize("shuffle, shift", [(True, False), (False, True), (False, False)])
def test_shuffle_and_shift_switch_independently(shuffle, shift):
    a = {"rgb": torch.randn(1, 10, 4, 4), "depth": torch.randn(1, 10, 4, 4)}
    seen = {}
    out = ShuffleShift(10, shuffle=shuffle, shift=shift)(a, lambda x: seen.update(x) or dict(x))
    assert torch.equal(seen["rgb"][:, 8:], (a["depth"] if shuffle else a["rgb"])[:, 8:])
    expected_head = a["rgb"][:, :8] + (pixel_shift(a["depth"]) if shift else 0)
    assert torch.allclose(out["rgb"][:, :8], expected_head)


@pytest.mark.parametrize("channels, expected", [(64, (8, 32)), (128, (24, 96)), (256, (48, 192)), (512, (104, 416)),
                                                (40, (8, 32))])
def test_aligned_split_puts_every_boundary_on_a_multiple_of_8(channels, expected):
    g, s = split_channels(channels, 8)
    assert (g, s) == expected and g % 8 == 0 and s % 32 == 0 and 0 < s < channels


def test_aligned_fusion_computes_the_same_function_after_folding():
    """The aligned split goes through the model, the BN folding (every layout) and the profile alike."""
    from amf_edge.convert.fold import fold
    from amf_edge.models import build_model
    from amf_edge.models.profile import profile

    torch.manual_seed(0)
    model = build_model("asymfusion-r18", num_classes=5).eval()  # the edge presets' default: aligned
    assert model.config.fusion_align == 8
    official = build_model("asymfusion-r18", num_classes=5, fusion_align=1).eval()
    assert build_model("asymfusion-r50", num_classes=5).config.fusion_align == 1  # the official presets: the paper
    official.load_state_dict(model.state_dict())
    rgb, depth = torch.randn(1, 3, 64, 80), torch.rand(1, 1, 64, 80)
    with torch.no_grad():
        expected = model(rgb, depth)
        assert not torch.allclose(official(rgb, depth), expected, atol=1e-3)  # the split matters
        for layout in ("split", "batched", "grouped"):
            assert torch.allclose(fold(model, layout)(rgb, depth), expected, atol=1e-4), layout
    heads = [f["head"][1] for f in profile(model.config, 64, 80).fusion]
    assert heads == [32, 96, 192, 416]
