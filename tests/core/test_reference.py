"""Against the official AsymFusion code itself (github.com/yikaiw/AsymFusion, models/model.py).

Run with AMF_REFERENCE_REPO=/path/to/AsymFusion; skipped without it. Nothing of the official code is
part of this repository: the test imports it from the user's checkout.
"""

import sys
import types

import numpy as np
import pytest
import torch

from amf_edge import load_checkpoint
from amf_edge.cli.main import main
from amf_edge.interop import load_imagenet_resnet
from amf_edge.models import build_model

pytestmark = pytest.mark.reference


@pytest.fixture(scope="module")
def official(reference_repo):
    """The official `models.model` module. Its `utils.helpers` import pulls matplotlib, cv2 and six for
    downloads only, so a stand-in without them is installed for the import."""
    helpers = types.ModuleType("utils.helpers")
    helpers.maybe_download = None
    utils = types.ModuleType("utils")
    utils.helpers = helpers
    saved = {k: sys.modules.get(k) for k in ("utils", "utils.helpers", "models", "models.model", "models.parallel")}
    sys.modules.update({"utils": utils, "utils.helpers": helpers})
    sys.path.insert(0, str(reference_repo))
    try:
        for k in ("models", "models.model", "models.parallel"):
            sys.modules.pop(k, None)
        import models.model as official_model

        yield official_model
    finally:
        sys.path.remove(str(reference_repo))
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def randomise_bn_and_alpha(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.6 - 0.3)
        model.alpha.copy_(torch.tensor([0.4, -0.3]))


@pytest.mark.parametrize("depth, classes", [(50, 40), (101, 40), (50, 13)])
def test_imported_official_checkpoint_reproduces_all_three_heads(official, tmp_path, depth, classes):
    torch.manual_seed(depth)
    ref = official.refinenet(depth, classes, 2)
    randomise_bn_and_alpha(ref, seed=depth)
    ref.eval()
    # The file exactly as the official Saver writes it: DataParallel keys, numpy best_val.
    path = tmp_path / "model-best.pth.tar"
    segmenter = {"module." + k: v for k, v in ref.state_dict().items()}
    torch.save({"segmenter": segmenter, "epoch_start": 99, "best_val": np.float64(0.512)}, path)
    out = tmp_path / "ours.pt"
    assert main(["import-reference", str(path), "--preset", f"asymfusion-r{depth}", "--classes", str(classes),
                 "-o", str(out)]) == 0

    ckpt = load_checkpoint(out)
    g = torch.Generator().manual_seed(1)
    rgb, depth_map = torch.randn(2, 3, 75, 98, generator=g), torch.rand(2, 1, 75, 98, generator=g) * 2
    with torch.no_grad():
        (ref_rgb, ref_depth, ref_ens), _ = ref([rgb, depth_map.expand(-1, 3, -1, -1).contiguous()])
        heads = ckpt.model.forward_heads(rgb, depth_map)
    for name, expected in (("rgb", ref_rgb), ("depth", ref_depth), ("ensemble", ref_ens)):
        assert heads[name].shape == expected.shape
        assert (heads[name] - expected).abs().max().item() <= 1e-4, name
        assert torch.equal(heads[name].argmax(1), expected.argmax(1)), name


def test_wrong_preset_is_reported_with_the_right_one(official, tmp_path, capsys):
    ref = official.refinenet(50, 40, 2)
    path = tmp_path / "model-best.pth.tar"
    torch.save({"segmenter": {"module." + k: v for k, v in ref.state_dict().items()}}, path)
    assert main(["import-reference", str(path), "--preset", "asymfusion-r101", "--classes", "40",
                 "-o", str(tmp_path / "x.pt")]) == 1
    assert "use --preset asymfusion-r50" in capsys.readouterr().err
    assert main(["import-reference", str(path), "--preset", "asymfusion-r50", "--classes", "37",
                 "-o", str(tmp_path / "x.pt")]) == 1
    assert "use --classes 40" in capsys.readouterr().err


def test_imagenet_initialisation_matches_the_official_expansion(official, tmp_path):
    """Our torchvision loader and the official `expand_model_dict` give the same encoder."""
    from test_interop import torchvision_resnet_state

    source = torchvision_resnet_state(50)
    ref = official.refinenet(50, 40, 2)
    ref.load_state_dict(official.expand_model_dict(ref.state_dict(), source, 2), strict=True)
    torch.save(source, tmp_path / "resnet50.pth")
    ours = build_model("asymfusion-r50", num_classes=40)
    load_imagenet_resnet(ours, tmp_path / "resnet50.pth")
    from amf_edge.interop import official_key_to_ours

    state = ours.state_dict()
    compared = 0
    for key, value in ref.state_dict().items():
        mapped = official_key_to_ours(key)
        if mapped.startswith("encoder."):
            assert torch.equal(state[mapped], value), key
            compared += 1
    assert compared > 300
