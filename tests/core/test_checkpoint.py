
import pytest
import torch

from amf_edge import load_checkpoint
from amf_edge.checkpoint import save_checkpoint
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet, get_labels
from amf_edge.models import build_model
from amf_edge.preprocess import PreprocessSpec


def test_round_trip_restores_model_config_labels_and_preprocessing(tmp_path):
    model = build_model("asymfusion-r18", num_classes=40, fusion="shift", fusion_stages=(2, 4))
    with torch.no_grad():
        model.alpha.copy_(torch.tensor([0.2, 0.9]))
    spec = PreprocessSpec(depth_divisor_m=2.5)
    path = save_checkpoint(tmp_path / "sub" / "m.pt", model, labels=get_labels("nyudv2"), preprocess=spec,
                           meta={"preset": "asymfusion-r18"})
    ckpt = load_checkpoint(path)
    assert not ckpt.model.training
    assert ckpt.config == model.config
    assert ckpt.labels == get_labels("nyudv2") and ckpt.preprocess == spec
    assert ckpt.meta["preset"] == "asymfusion-r18" and "torch_version" in ckpt.meta
    rgb, depth = torch.randn(1, 3, 40, 48), torch.rand(1, 1, 40, 48)
    model.eval()
    with torch.no_grad():
        assert torch.equal(ckpt.model(rgb, depth), model(rgb, depth))
    assert not list(tmp_path.glob("**/*.tmp"))


def test_checkpoints_load_with_weights_only(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", build_model("asymfusion-r18", num_classes=3),
                           labels=LabelSet.generic(3), preprocess=PreprocessSpec())
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k.get("weights_only")) or real_load(*a, **k))
    load_checkpoint(path)
    assert calls == [True]


def test_a_file_with_code_in_it_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "amf-edge-checkpoint", "payload": PreprocessSpec()}, path)  # a pickled class
    with pytest.raises(AmfEdgeError, match="not a loadable amf-edge checkpoint"):
        load_checkpoint(path)


def test_labels_must_match_the_model(tmp_path):
    with pytest.raises(AmfEdgeError, match="40 classes but the model predicts 5"):
        save_checkpoint(tmp_path / "m.pt", build_model("asymfusion-r18", num_classes=5),
                        labels=get_labels("nyudv2"), preprocess=PreprocessSpec())


def test_missing_and_foreign_files_get_clear_errors(tmp_path):
    with pytest.raises(AmfEdgeError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    official = tmp_path / "model-best.pth.tar"
    torch.save({"segmenter": {"module.bn1.bn_0.weight": torch.ones(2)}, "epoch_start": 3}, official)
    with pytest.raises(AmfEdgeError, match="amf-edge import-reference"):
        load_checkpoint(official)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(AmfEdgeError, match="not a loadable"):
        load_checkpoint(garbage)
    newer = tmp_path / "newer.pt"
    torch.save({"format": "amf-edge-checkpoint", "format_version": 99}, newer)
    with pytest.raises(AmfEdgeError, match="upgrade amf-edge"):
        load_checkpoint(newer)
