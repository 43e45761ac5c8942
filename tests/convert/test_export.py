"""ONNX export: parity with PyTorch in ONNX Runtime, the sensor-level contract, metadata, outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amf_edge.checkpoint import Checkpoint, load_checkpoint
from amf_edge.cli.main import main
from amf_edge.contract import read_metadata
from amf_edge.convert.export import check_parity, export_onnx, parse_outputs
from amf_edge.errors import AmfEdgeError
from amf_edge.models import build_model
from amf_edge.preprocess import PreprocessSpec
from amf_edge.synthetic import SYNTHETIC_LABELS, SyntheticScenes
from amf_edge.visualize import overlay

ort = pytest.importorskip("onnxruntime")
H, W = 64, 80


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint):
    """The tiny checkpoint (tests/conftest.py): its BatchNorm statistics are non-trivial, so folding matters."""
    return load_checkpoint(tiny_checkpoint())


@pytest.fixture(scope="module")
def exported(ckpt, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "m.onnx"
    return export_onnx(ckpt, "ab" * 32, path, height=H, width=W, outputs=parse_outputs("logits,confidence,overlay"))


@pytest.fixture(scope="module")
def frames():
    return list(SyntheticScenes(seed=4, n=2, height=H, width=W))


def run(path, sample):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"rgb": sample.rgb[None], "depth": sample.depth_m()[None]})))


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["split", "batched", "grouped"])
def test_onnx_runtime_matches_pytorch_for_every_layout(ckpt, frames, tmp_path, layout):
    path = export_onnx(ckpt, "0" * 64, tmp_path / f"{layout}.onnx", height=H, width=W, layout=layout,
                       outputs=("labels", "logits"))
    result = check_parity(ckpt, path, frames)
    assert result["label_agreement"] == 1.0 and result["max_logit_error"] <= 1e-4
    assert_convs_named_by_module(ckpt, path, per_modality=layout == "split")


def assert_convs_named_by_module(ckpt, path, *, per_modality: bool) -> None:
    """Every Conv node is named after the model's module it computes, a modality suffix where one module runs
    as one Conv per modality: what sensitivity reports and `quantize --keep` show a user."""
    import onnx

    modules = dict(ckpt.model.named_modules())
    names = [n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"]
    assert len(set(names)) == len(names)
    for name in names:
        module, _, suffix = name.partition("[")
        assert module in modules and isinstance(modules[module], torch.nn.Module), name
        assert not suffix or suffix.rstrip("]") in ckpt.config.modalities, name
    assert {"encoder.conv1[rgb]", "encoder.conv1[depth]", "decoder.classifier"} <= set(names)
    assert ("encoder.layer3.1.conv2[depth]" if per_modality else "encoder.layer3.1.conv2") in names


def test_graph_contract_inputs_outputs_and_single_file(exported, frames):
    import onnx

    model = onnx.load(str(exported))
    assert model.opset_import[0].version == 18 and not list(exported.parent.glob("*.data"))
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert inputs == {"rgb": ("tensor(uint8)", [1, H, W, 3]), "depth": ("tensor(float)", [1, H, W])}
    out = run(exported, frames[0])
    assert list(out) == ["labels", "logits", "confidence", "overlay"]
    assert out["labels"].dtype == np.uint8 and out["labels"].shape == (1, H, W)
    assert out["logits"].shape == (1, 11, H // 4, W // 4)
    assert (out["confidence"].shape == (1, H, W)
            and np.all((out["confidence"] > 1 / 11 - 1e-6) & (out["confidence"] <= 1)))
    # the in-graph overlay is the runtime's overlay of the in-graph labels (±1 for rounding)
    expected = overlay(frames[0].rgb, out["labels"][0], SYNTHETIC_LABELS)
    assert out["overlay"].dtype == np.uint8 and np.abs(out["overlay"][0].astype(int) - expected).max() <= 1


def test_convs_are_named_by_module(ckpt, exported):
    assert_convs_named_by_module(ckpt, exported, per_modality=False)


def test_metadata_round_trip(ckpt, exported):
    meta = read_metadata(exported)
    assert meta["preset"] == "asymfusion-r18" and meta["checkpoint_sha256"] == "ab" * 32
    assert meta["labels"] == SYNTHETIC_LABELS.to_dict() and meta["model_config"] == ckpt.config.to_dict()
    contract = meta["input_contract"]
    assert contract["rgb"] == {"dtype": "uint8", "shape": ["N", H, W, 3], "channel_order": "RGB"}
    assert contract["depth"]["unit"] == "metre" and contract["depth"]["invalid"] == 0.0
    assert PreprocessSpec.from_dict(contract["preprocess"]) == ckpt.preprocess
    assert meta["versions"]["opset"] == 18 and meta["layout"] == "grouped"


def test_bgr_models_take_bgr_frames(ckpt, frames, tmp_path):
    bgr = Checkpoint(ckpt.model, ckpt.labels, PreprocessSpec(channel_order="BGR"), ckpt.meta)
    path = export_onnx(bgr, "0" * 64, tmp_path / "bgr.onnx", height=H, width=W, outputs=("labels",))
    assert check_parity(bgr, path, frames)["label_agreement"] == 1.0
    assert read_metadata(path)["input_contract"]["rgb"]["channel_order"] == "BGR"


def test_parity_check_catches_a_different_model(ckpt, exported, frames):
    other = Checkpoint(build_model("asymfusion-r18", num_classes=11).eval(), ckpt.labels, ckpt.preprocess, {})
    with pytest.raises(AmfEdgeError, match="does not reproduce the PyTorch model"):
        check_parity(other, exported, frames)


def test_outputs_are_parsed_strictly():
    assert parse_outputs("overlay, logits") == ("labels", "logits", "overlay")
    with pytest.raises(AmfEdgeError, match="subset of labels, labels_rgb, labels_depth, logits, confidence, overlay"):
        parse_outputs("labels,heatmap")
    # the default carries the RGB head's labels (the runtime's depth fallback) only where there is a depth head
    assert parse_outputs(None) == ("labels", "labels_rgb")
    assert parse_outputs(None, ("rgb",)) == ("labels",)
    with pytest.raises(AmfEdgeError, match="only the rgb head.*no labels_depth"):
        parse_outputs("labels_depth", ("rgb",))


@pytest.mark.slow
@pytest.mark.parametrize("stride", [2, 4])
def test_head_labels_and_output_stride_match_pytorch(ckpt, frames, tmp_path, stride):
    """Every head's labels at the output stride: the argmax of the PyTorch head's logits at that stride, repeated
    to the input size (check_parity compares each of them), and coarser than at full resolution."""
    from amf_edge.models import labels_from_logits

    path = export_onnx(ckpt, "0" * 64, tmp_path / "s.onnx", height=H, width=W, output_stride=stride,
                       outputs=("labels", "labels_rgb", "labels_depth", "confidence"))
    assert check_parity(ckpt, path, frames)["label_agreement"] == 1.0
    meta = read_metadata(path)
    assert meta["input_contract"]["output_stride"] == stride
    assert meta["input_contract"]["outputs"] == ["labels", "labels_rgb", "labels_depth", "confidence"]
    got = run(path, frames[0])
    for name in ("labels", "labels_rgb", "labels_depth", "confidence"):
        assert got[name].shape == (1, H, W)
        # repeated: every stride×stride block holds one value
        blocks = got[name][0].reshape(H // stride, stride, W // stride, stride)
        assert (blocks == blocks[:, :1, :, :1]).all(), name
    assert got["labels"].dtype == np.uint8 and got["confidence"].dtype == np.float32
    spec, model = ckpt.preprocess, ckpt.model.eval()
    with torch.no_grad():
        heads = model.forward_heads(*(torch.from_numpy(a) for a in spec(frames[0].rgb, frames[0].depth_m())))
        full = labels_from_logits(heads["rgb"], (H, W), 1)[0].numpy()
    # the heads differ from each other and the stride changes some labels (else this test could not fail)
    assert not np.array_equal(got["labels_rgb"][0], got["labels_depth"][0])
    assert not np.array_equal(got["labels_rgb"][0], full)


def test_default_outputs_and_stride(ckpt, tmp_path):
    path = export_onnx(ckpt, "0" * 64, tmp_path / "d.onnx", height=H, width=W)
    meta = read_metadata(path)
    assert meta["input_contract"]["outputs"] == ["labels", "labels_rgb"]
    assert meta["input_contract"]["output_stride"] == 4


def test_export_cli(tiny_checkpoint, tmp_path, capsys):
    path = tiny_checkpoint()
    assert main(["export", str(path), "-o", str(tmp_path / "m.onnx"), "--height", "48", "--width", "64",
                 "--check-frames", "1"]) == 0
    assert "100.00% labels equal" in capsys.readouterr().out
    from amf_edge.files import file_sha256

    assert read_metadata(tmp_path / "m.onnx")["checkpoint_sha256"] == file_sha256(path)
    assert main(["export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(AmfEdgeError, match="no amf-edge metadata"):
        import onnx

        plain = onnx.load(str(tmp_path / "m.onnx"))
        del plain.metadata_props[:]
        onnx.save(plain, str(tmp_path / "plain.onnx"))
        read_metadata(tmp_path / "plain.onnx")


@pytest.mark.slow
def test_dynamic_export_runs_other_sizes_and_batches(ckpt, tmp_path):
    path = export_onnx(ckpt, "0" * 64, tmp_path / "d.onnx", height=H, width=W, outputs=("labels", "logits"),
                       dynamic=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["N", "H", "W", 3] and session.get_inputs()[1].shape == ["N", "H", "W"]
    assert read_metadata(path)["input_contract"]["rgb"]["shape"] == ["N", "H", "W", 3]
    other = list(SyntheticScenes(seed=5, n=2, height=72, width=100))
    assert check_parity(ckpt, path, other)["label_agreement"] == 1.0
    labels = session.run(["labels"], {"rgb": np.stack([s.rgb for s in other]),
                                      "depth": np.stack([s.depth_m() for s in other])})[0]
    assert labels.shape == (2, 72, 100)
    single = session.run(["labels"], {"rgb": other[1].rgb[None], "depth": other[1].depth_m()[None]})[0]
    np.testing.assert_array_equal(labels[1:], single)  # batch entries are independent


@pytest.mark.slow
def test_export_cleans_the_graph(ckpt, tmp_path, monkeypatch):
    """onnxslim folds the exporter's Slice/Concat chains without changing the computation."""
    import onnx
    import onnxslim

    slim = tmp_path / "slim.onnx"
    export_onnx(ckpt, "0" * 64, slim, height=H, width=W)
    monkeypatch.setattr(onnxslim, "slim", lambda model: model)
    raw = tmp_path / "raw.onnx"
    export_onnx(ckpt, "0" * 64, raw, height=H, width=W)
    n_slim, n_raw = (len(onnx.load(str(p)).graph.node) for p in (slim, raw))
    assert n_slim < 0.85 * n_raw, (n_slim, n_raw)
    assert check_parity(ckpt, slim, list(SyntheticScenes(seed=6, n=1, height=H, width=W)))["label_agreement"] == 1.0


def test_the_cli_default_stride_is_the_exporter_default():
    """amf_edge/cli/export.py keeps its own copy (importing the exporter at --help time would import torch)."""
    from amf_edge.cli import export as cli
    from amf_edge.convert import export
    from amf_edge.models import DEFAULT_OUTPUT_STRIDE

    assert cli.DEFAULT_OUTPUT_STRIDE == export.DEFAULT_OUTPUT_STRIDE == DEFAULT_OUTPUT_STRIDE


def test_the_depth_gate_is_in_the_graph(tiny_checkpoint, frames, tmp_path):
    """A model with a depth gate (ModelConfig.depth_gate) computes it in the graph, per frame: on frames that lost
    all their depth or most of it, every head matches PyTorch and the RGB head ignores what is left of the depth;
    TensorRT's parser (every release's table) takes the gate's operators."""
    import onnx

    from amf_edge.convert.lint import lint_all_versions
    from amf_edge.depth_holes import remove_depth

    ckpt = load_checkpoint(tiny_checkpoint(depth_gate=0.4))
    path = export_onnx(ckpt, "0" * 64, tmp_path / "g.onnx", height=H, width=W,
                       outputs=("labels", "labels_rgb", "logits"))
    rng = np.random.default_rng(0)
    blank, sparse = remove_depth(frames[0], 1.0, rng), remove_depth(frames[0], 0.8, rng)
    assert 0 < np.count_nonzero(sparse.depth) < 0.4 * sparse.depth.size
    assert check_parity(ckpt, path, [frames[1], blank, sparse])["label_agreement"] == 1.0
    assert np.array_equal(run(path, blank)["labels_rgb"], run(path, sparse)["labels_rgb"])
    for failed in (run(path, blank), run(path, sparse)):  # under the gate, the ensemble is the RGB head
        assert np.array_equal(failed["labels"], failed["labels_rgb"])
    assert read_metadata(path)["model_config"]["depth_gate"] == 0.4
    assert all(problems == [] for problems in lint_all_versions(onnx.load(str(path))).values())
