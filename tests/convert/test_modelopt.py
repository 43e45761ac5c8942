"""`--quantizer modelopt`: NVIDIA ModelOpt's int8 Q/DQ, made in its own environment (.venv-modelopt, `make modelopt`),
with amf-edge's contract, metadata, TensorRT lint and exact-arithmetic scoring. The error where that environment is
missing always runs; the rest runs where it exists."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

from amf_edge.checkpoint import load_checkpoint
from amf_edge.cli.main import main
from amf_edge.contract import ModelContract, read_metadata
from amf_edge.convert.export import export_onnx
from amf_edge.convert.lint import lint
from amf_edge.convert.quantize import QuantizeOptions, name_nodes, split_body
from amf_edge.errors import AmfEdgeError
from amf_edge.files import file_sha256
from amf_edge.onnxrt import scoring_options
from amf_edge.synthetic import SyntheticScenes

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
H, W = 64, 80
ROOT = Path(__file__).resolve().parents[2]
CALIB = ROOT / "calib_data" / "synthetic-240x320"
MODELOPT_PYTHON = ROOT / ".venv-modelopt" / "bin" / "python"
needs_modelopt = pytest.mark.skipif(not MODELOPT_PYTHON.is_file(),
                                    reason="no .venv-modelopt: `make modelopt` creates it")


@pytest.fixture(scope="module")
def fp32(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint (tests/conftest.py) exported at H×W."""
    path = tmp_path_factory.mktemp("mo") / "fp32.onnx"
    return export_onnx(load_checkpoint(tiny_checkpoint()), "cd" * 32, path, height=H, width=W,
                       outputs=("labels", "logits", "confidence"))


def test_options_say_what_modelopt_makes():
    for precision in ("fp16", "int8-cpu"):
        with pytest.raises(AmfEdgeError, match=f"int8 .* only; make {precision} with --quantizer ort"):
            QuantizeOptions(precision, quantizer="modelopt")
    with pytest.raises(AmfEdgeError, match="--method minmax or entropy"):
        QuantizeOptions("int8", method="percentile", quantizer="modelopt")
    with pytest.raises(AmfEdgeError, match="quantizer 'trt'"):
        QuantizeOptions("int8", quantizer="trt")


def test_a_missing_environment_names_make_modelopt(fp32, tmp_path, monkeypatch, capsys):
    """No silent fallback to ONNX Runtime: exit 1, one message, no traceback, nothing written."""
    monkeypatch.setenv("AMF_EDGE_MODELOPT_PYTHON", str(tmp_path / "absent" / "bin" / "python"))
    out = tmp_path / "mo.onnx"
    args = ["quantize", str(fp32), "--precision", "int8", "--calib", str(CALIB), "-o", str(out),
            "--quantizer", "modelopt", "--val-frames", "1"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "`make modelopt` creates .venv-modelopt" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())
    assert main([*args, "--max-drop", "1.0"]) == 1
    assert "--max-drop re-quantizes once per Conv" in capsys.readouterr().err


@pytest.fixture(scope="module")
def kept(fp32):
    """A Conv kept in float32 (--keep), by the name the export gives it."""
    reference = onnx.load(str(fp32))
    name_nodes(reference)
    return split_body(reference).convs[2]


@pytest.fixture(scope="module")
def modelopt_int8(fp32, kept):
    """One ModelOpt run, through the command: the budget's exact scoring applies to what ModelOpt wrote.
    -> (exit status, output path, what it printed)."""
    out = fp32.parent / "mo.int8.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # capsys is function scoped
        code = main(["quantize", str(fp32), "--precision", "int8", "--calib", str(CALIB), "-o", str(out),
                     "--quantizer", "modelopt", "--method", "minmax", "--keep", kept, "--budget", "100",
                     "--val", f"synthetic://?seed=9&n=2&val=2&height={H}&width={W}", "--val-frames", "2"])
    return code, out, printed.getvalue()


@needs_modelopt
def test_the_command_scores_modelopts_model_in_exact_arithmetic(modelopt_int8):
    code, out, printed = modelopt_int8
    assert code == 0 and out.exists()
    assert f"wrote {out}" in printed and "ensemble mIoU on 2 validation frames" in printed
    assert not out.with_name(out.name + ".calib.json").exists()  # ModelOpt calibrates on every run


@needs_modelopt
def test_modelopt_keeps_the_contract_and_metadata(fp32, modelopt_int8):
    out = modelopt_int8[1]
    before, after = read_metadata(fp32), read_metadata(out)
    added = ("precision", "quantization", "source_sha256")
    assert {k: v for k, v in after.items() if k not in added} == {k: v for k, v in before.items() if k not in added}
    assert ModelContract.from_metadata(after).precision == "int8" and after["source_sha256"] == file_sha256(fp32)
    q = after["quantization"]
    assert q["quantizer"] == "modelopt" and q["modelopt_version"] and q["method"] == "minmax"
    assert q["calibration"]["modelopt_method"] == "max" and q["calibration"]["cache"] is None
    a, b = (onnx.load(str(p)).graph for p in (fp32, out))
    ports = [[(v.name, v.type.tensor_type.elem_type, str(v.type.tensor_type.shape)) for v in (*g.input, *g.output)]
          for g in (a, b)]
    assert ports[0] == ports[1]


@needs_modelopt
def test_modelopt_output_is_tensorrt_parsable_int8(fp32, modelopt_int8, kept):
    """Lint clean; every DequantizeLinear dequantizes int8 with zero points 0 (no int32 biases); every body Conv
    but the kept one reads a dequantized activation; nothing outside the body (pre- and post-processing) is
    quantized."""
    model = onnx.load(str(modelopt_int8[1]))
    assert lint(model) == []
    graph = onnx.shape_inference.infer_shapes(model).graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.input)}
    types.update({t.name: t.data_type for t in graph.initializer})
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    dq = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    assert dq and all(types[n.input[0]] == onnx.TensorProto.INT8 for n in dq), "a DequantizeLinear of non-int8"
    zeros = [inits[n.input[2]] for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
             and len(n.input) > 2 and n.input[2]]
    assert all(z.dtype == np.int8 and not z.any() for z in zeros)
    producer = {o: n for n in graph.node for o in n.output}
    reference = onnx.load(str(fp32))
    name_nodes(reference)
    body = split_body(reference)
    convs = {n.name: n for n in graph.node if n.op_type == "Conv"}
    assert set(body.convs) == set(convs)
    for conv in convs.values():
        assert (producer[conv.input[0]].op_type == "DequantizeLinear") == (conv.name != kept), conv.name
    assert all(i not in producer or producer[i].op_type != "DequantizeLinear" for i in convs[kept].input)
    for node in (n for n in graph.node if n.name in set(body.outside)):
        assert all(i not in producer or producer[i].op_type != "DequantizeLinear" for i in node.input), node.name


@needs_modelopt
def test_modelopt_runs_in_scoring_arithmetic_and_agrees_with_fp32(fp32, modelopt_int8):
    samples = list(SyntheticScenes(seed=21, n=2, height=H, width=W, split="val"))
    labels = {}
    for name, path in (("fp32", fp32), ("int8", modelopt_int8[1])):
        session = ort.InferenceSession(str(path), scoring_options(ort, name), providers=["CPUExecutionProvider"])
        labels[name] = [session.run(["labels"], {"rgb": s.rgb[None], "depth": s.depth_m()[None]})[0] for s in samples]
    agreement = np.mean([(a == b).mean() for a, b in zip(labels["fp32"], labels["int8"])])
    assert agreement >= 0.85, agreement  # an untrained net: loose, as for ONNX Runtime's int8 (test_quantize.py)
