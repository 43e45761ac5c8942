"""`amf-edge check` and `build --check`: a variant or engine against its ONNX, through Polygraphy's runners.

On this machine: the tiny checkpoint's FP32 export against its fp16 and int8 variants (agree, exit 0) and against
copies with one Conv's weights perturbed (disagree, exit 1, the perturbed Conv named). The TensorRT side runs
against the stand-in surfaces (tests/trt_standin.py), with the engine's runner swapped for ONNX Runtime over a
chosen ONNX file: the "engine" computes what that file computes. The trt-marked test builds and checks a real
engine where TensorRT and a GPU exist.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import trt_standin as ts

from amf_edge.bundle import read_bundle
from amf_edge.calibset import CalibrationSet
from amf_edge.checkpoint import load_checkpoint
from amf_edge.cli.main import main
from amf_edge.convert.check import THRESHOLDS, check_models
from amf_edge.convert.export import export_onnx
from amf_edge.convert.quantize import QuantizeOptions, make_variant

onnx = pytest.importorskip("onnx")
pytest.importorskip("polygraphy")
H, W = 64, 80
CALIB = Path(__file__).resolve().parents[2] / "calib_data" / "synthetic-240x320"
PERTURBED = "encoder.layer2.0.conv1"


def perturb(src: Path, out: Path, layer: str = PERTURBED) -> Path:
    """A copy of `src` with one Conv's weights changed: noise of the weights' own size (fp32), or the int8
    weights negated (a Q/DQ graph, where the Conv reads them through a DequantizeLinear)."""
    from onnx import numpy_helper

    model = onnx.load(str(src))
    producer = {o: n for n in model.graph.node for o in n.output}
    conv = next(n for n in model.graph.node if n.name == layer)
    weight = conv.input[1]
    if weight in producer and producer[weight].op_type == "DequantizeLinear":
        weight = producer[weight].input[0]
    init = next(i for i in model.graph.initializer if i.name == weight)
    w = numpy_helper.to_array(init)
    if w.dtype == np.int8:
        w = (-w.astype(np.int16)).clip(-127, 127).astype(np.int8)
    else:
        w = w + np.random.default_rng(0).standard_normal(w.shape).astype(w.dtype) * w.std()
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, str(out))
    return out


@pytest.fixture(scope="module")
def models(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("check")
    fp32 = export_onnx(load_checkpoint(tiny_checkpoint()), "cd" * 32, out / "fp32.onnx", height=H, width=W)
    calib = CalibrationSet.open(CALIB)
    made = {"fp32": fp32}
    for precision in ("fp16", "int8"):
        made[precision] = make_variant(fp32, out / f"{precision}.onnx", QuantizeOptions(precision, method="minmax"),
                                       calib=calib)
    made["broken"] = perturb(fp32, out / "broken.onnx")
    made["broken-int8"] = perturb(made["int8"], out / "broken-int8.onnx")
    return made


def check(capsys, *args):
    code = main(["check", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("variant", ["fp16", "int8"])
def test_a_correct_variant_agrees_and_exits_0(models, capsys, variant):
    code, out, err = check(capsys, models[variant], "--against", models["fp32"], "--frames", CALIB, "--json")
    assert code == 0, out + err
    r = json.loads(out)
    t = THRESHOLDS[variant]
    assert r["passed"] and r["frames"] == 16 and r["precision"] == [variant, "fp32"]
    assert t.min_label_agreement <= r["label_agreement"] <= 100.0
    assert t.min_iou_agreement <= r["iou_agreement"] <= 100.0
    assert r["logits"] is not None and r["logits"]["relative"] < t.max_logit_error  # logits found and compared
    errors = dict(r["layers"]["errors"])
    assert len(errors) == 48 and r["layers"]["first"] is None and max(errors.values()) < t.max_layer_error

    code, out, _ = check(capsys, models[variant], "--against", models["fp32"], "--frames", CALIB)
    first = out.splitlines()[0]
    assert first.startswith(f"{variant}.onnx vs fp32.onnx on 16 {CALIB} frames: ") and first.endswith(": agree")
    assert f"(min {t.min_label_agreement:g} %)" in first


@pytest.mark.parametrize("variant, against", [("broken", "fp32"), ("broken-int8", "fp32"), ("fp32", "broken")])
def test_a_perturbed_conv_fails_and_is_named(models, capsys, variant, against):
    code, out, err = check(capsys, models[variant], "--against", models[against], "--frames", CALIB, "--n", "8")
    assert code == 1 and "Traceback" not in err
    first = out.splitlines()[0]
    assert first.endswith(f": DISAGREE, first diverging Conv {PERTURBED}"), first
    assert f"first diverging Conv: {PERTURBED} (relative error" in out


def test_layers_before_the_perturbed_conv_agree(models):
    """The named Conv is where the graphs part: every Conv before it (in graph order) matches to float rounding."""
    r = check_models(models["broken"], models["fp32"], CalibrationSet.open(CALIB).samples(), frames_from="calib",
                     limit=4)
    names = [n for n, _ in r.layers["errors"]]
    before = dict(r.layers["errors"][:names.index(PERTURBED)])
    assert before and max(before.values()) < 1e-5 and dict(r.layers["errors"])[PERTURBED] > 0.1


def test_thresholds_are_printed_and_overridable(models, capsys):
    code, out, _ = check(capsys, models["fp16"], "--against", models["fp32"], "--n", "4", "--min-label-agreement",
                         "100", "--max-layer-error", "0", "--no-layers")
    assert "(min 100 %)" in out and "Convs compared" not in out  # --no-layers: no layer-wise pass
    assert code == (0 if "100.0 % labels equal" in out else 1)
    code, out, _ = check(capsys, models["broken"], "--against", models["fp32"], "--n", "4",
                         "--min-label-agreement", "0", "--min-iou-agreement", "0", "--max-logit-error", "10",
                         "--max-layer-error", "10")
    assert code == 0 and out.splitlines()[0].endswith(": agree")


def test_labelled_data_adds_each_sides_miou(models, capsys):
    uri = f"synthetic://?seed=9&n=1&val=4&height={H}&width={W}"
    code, out, _ = check(capsys, models["int8"], "--against", models["fp32"], "--data", uri, "--json", "--no-layers")
    r = json.loads(out)
    assert code == 0 and r["frames"] == 4 and r["frames_from"] == uri
    assert set(r["miou"]) == {"int8.onnx", "fp32.onnx"} and all(0 <= v <= 100 for v in r["miou"].values())


@pytest.mark.parametrize("args, message", [
    ([], "pass --against MODEL.onnx"),
    (["--against", "{fp32}", "--n", "0"], "--n must be at least 1, got 0"),
    (["--against", "{fp32}", "--min-label-agreement", "120"], "--min-label-agreement must be a percentage 0–100"),
    (["--against", "{toy}"], "do not take and give the same things (input 64×80 vs 32×40; 11 vs 3 classes)"),
    (["--against", "{missing}"], "no such ONNX file"),
    (["--against", "{fp32}", "--frames", "calib_data/nope"], "calibration set calib_data/nope does not exist"),
])
def test_wrong_inputs_exit_1_with_what_to_do(models, tmp_path, capsys, args, message):
    from amf_edge.testing import toy_model

    paths = {"fp32": models["fp32"], "toy": toy_model(tmp_path / "toy.onnx", 32, 40), "missing": tmp_path / "x.onnx"}
    code, _, err = check(capsys, models["int8"], *(a.format(**paths) for a in args))
    assert code == 1 and message in err and "Traceback" not in err, err


def test_without_polygraphy_or_tensorrt_the_message_names_what_to_install(models, tmp_path, capsys, monkeypatch,
                                                                          write_engine_bundle):
    from amf_edge.contract import read_metadata

    polygraphy = sys.modules["polygraphy"]
    monkeypatch.setitem(sys.modules, "polygraphy", None)  # as where it is not installed
    code, _, err = check(capsys, models["int8"], "--against", models["fp32"])
    assert code == 1 and 'pip install "amf-edge[runtime,trt]"' in err and "Traceback" not in err
    monkeypatch.setitem(sys.modules, "polygraphy", polygraphy)
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    bundle = write_engine_bundle(tmp_path, metadata=read_metadata(models["fp32"]), device=ts.ORIN)
    code, _, err = check(capsys, bundle.engine_path, "--against", models["fp32"], "--n", "1")
    assert code == 1 and "running TensorRT engines" in err and "python3-libnvinfer" in err, err


# --- the TensorRT side: stand-in TensorRT, the engine's runner replaced -----------------------------------------


def engine_io(model: Path) -> list:
    """The tensors an engine built from `model` has: its graph's inputs and outputs, whatever the export gives."""
    graph = onnx.load(str(model)).graph
    types = {onnx.TensorProto.UINT8: "UINT8", onnx.TensorProto.FLOAT: "FLOAT"}
    return [ts.TensorSpec(v.name, tuple(d.dim_value for d in v.type.tensor_type.shape.dim),
                          types[v.type.tensor_type.elem_type], is_input)
            for values, is_input in ((graph.input, True), (graph.output, False)) for v in values]


@pytest.fixture
def standin_gpu(models, monkeypatch):
    cuda = ts.FakeCuda(ts.ORIN)
    module = ts.make_world(ts.load_surface("10.3.0"), cuda=cuda, io=engine_io(models["fp32"]))
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr("amf_edge.convert.build.query_device", lambda: ts.ORIN)
    monkeypatch.setattr("amf_edge.gpu.query_device", lambda: ts.ORIN)
    monkeypatch.setattr("amf_edge.runtime.backends.trt.open_cuda", lambda: cuda)  # `amf-edge run` on the stand-in
    return module


def engine_computes(monkeypatch, onnx_path: Path) -> list:
    """The engine's runner becomes Polygraphy's ONNX Runtime runner over `onnx_path`; returns the plans it got."""
    from polygraphy.backend.onnxrt import OnnxrtRunner, SessionFromOnnx

    plans: list = []

    def runner(plan, name, **options):
        plans.append(bytes(plan))
        return OnnxrtRunner(SessionFromOnnx(str(onnx_path), providers=["CPUExecutionProvider"]), name=name)

    monkeypatch.setattr("amf_edge.convert.check_runners.trt_runner", runner)
    return plans


def test_build_check_records_the_result_and_run_reads_it(models, standin_gpu, monkeypatch, tmp_path, capsys):
    plans = engine_computes(monkeypatch, models["fp32"])
    engine = tmp_path / "m.engine"
    code = main(["build", str(models["fp32"]), "-o", str(engine), "--check", "--check-frames", str(CALIB)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert plans == [b"fake-plan"]  # the runner got the engine the build wrote, after the bundle checks
    assert out.splitlines()[-1].startswith(f"m.engine vs fp32.onnx on 16 {CALIB} frames: 100.0 % labels equal")
    bundle = read_bundle(engine)
    assert bundle.check["passed"] and bundle.check["against_sha256"] == bundle.onnx["sha256"]
    assert bundle.check["layers"] is None and bundle.check["logits"] is None  # an engine gives its outputs only
    # an fp32 engine is held to fp16's thresholds: TensorRT convolves FP32 networks in TF32 by default
    assert bundle.check_note() == (f"checked against fp32.onnx: 100.0 % labels equal on 16 {CALIB} frames "
                                   f"(min {THRESHOLDS['fp16'].min_label_agreement:g} %)")

    code = main(["check", str(engine), "--n", "2"])  # --against defaults to the ONNX the sidecar names
    assert code == 0 and "m.engine vs fp32.onnx on 2 synthetic frames" in capsys.readouterr().out

    code = main(["run", str(engine), "--source", f"synthetic://?n=2&height={H}&width={W}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines()[0] == bundle.check_note()  # the first thing `run` says when it loads the engine


def test_build_check_of_a_wrong_engine_exits_1_and_says_so_in_the_sidecar(models, standin_gpu, monkeypatch,
                                                                           tmp_path, capsys):
    engine_computes(monkeypatch, models["broken"])
    engine = tmp_path / "m.engine"
    code = main(["build", str(models["fp32"]), "-o", str(engine), "--check", "--check-frames", str(CALIB)])
    out = capsys.readouterr().out
    assert code == 1 and out.splitlines()[-1].endswith(": DISAGREE")
    bundle = read_bundle(engine)
    assert bundle.check["passed"] is False and "disagrees with its ONNX" in bundle.check_note()


def test_an_engine_whose_onnx_changed_is_not_checked_against_it(models, standin_gpu, monkeypatch, tmp_path, capsys):
    import shutil

    engine_computes(monkeypatch, models["fp32"])
    source = shutil.copy(models["fp32"], tmp_path / "m.onnx")
    assert main(["build", str(source), "-o", str(tmp_path / "m.engine")]) == 0
    shutil.copy(models["fp16"], source)
    capsys.readouterr()
    assert main(["check", str(tmp_path / "m.engine")]) == 1
    assert "changed since" in capsys.readouterr().err


def test_check_frames_without_check_is_an_error(models, standin_gpu, tmp_path, capsys):
    code = main(["build", str(models["fp32"]), "-o", str(tmp_path / "m.engine"), "--check-frames", str(CALIB)])
    assert code == 1 and "--check-frames is only used by --check" in capsys.readouterr().err


@pytest.mark.trt
def test_a_real_engine_agrees_with_its_onnx(models, tmp_path, capsys):
    """Where TensorRT and a GPU exist: build the fp16 variant for real and check it on the calibration frames."""
    engine = tmp_path / "fp16.engine"
    code = main(["build", str(models["fp16"]), "-o", str(engine), "--check", "--check-frames", str(CALIB)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert read_bundle(engine).check["passed"] and "labels equal" in out
