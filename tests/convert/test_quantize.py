"""Precision variants: TensorRT's Q/DQ scheme in the int8 graph, uint8 for int8-cpu, float32 where fp16 must
not reach, calibration caches, metadata, the sensitivity search and the quantize command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from amf_edge.calibset import CalibrationSet
from amf_edge.checkpoint import load_checkpoint
from amf_edge.cli.main import main
from amf_edge.contract import ModelContract, read_metadata
from amf_edge.convert import sensitivity
from amf_edge.convert.export import export_onnx
from amf_edge.convert.lint import lint
from amf_edge.convert.quantize import QuantizeOptions, make_variant, name_nodes, split_body
from amf_edge.errors import AmfEdgeError
from amf_edge.onnxrt import scoring_options
from amf_edge.synthetic import SYNTHETIC_LABELS, SyntheticScenes

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
H, W = 64, 80
CALIB = Path(__file__).resolve().parents[2] / "calib_data" / "synthetic-240x320"


@pytest.fixture(scope="module")
def fp32(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint (tests/conftest.py) exported at H×W: the variants are made beside it."""
    path = tmp_path_factory.mktemp("q") / "fp32.onnx"
    return export_onnx(load_checkpoint(tiny_checkpoint()), "cd" * 32, path, height=H, width=W,
                       outputs=("labels", "logits", "confidence"))


@pytest.fixture(scope="module")
def calib():
    return CalibrationSet.open(CALIB)


@pytest.fixture(scope="module")
def variants(fp32, calib):
    out = fp32.parent
    return {p: make_variant(fp32, out / f"{p}.onnx", QuantizeOptions(p, method="minmax"), calib=calib)
            for p in ("fp16", "int8", "int8-cpu")}


def outputs(path, samples):
    """Every output, in the arithmetic every accuracy figure uses (amf_edge.onnxrt.scoring_options): the same on
    any host, with or without VNNI."""
    options = scoring_options(ort, read_metadata(path).get("precision", "fp32"))
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return [dict(zip(names, session.run(None, {"rgb": s.rgb[None], "depth": s.depth_m()[None]}))) for s in samples]


def initializers(model):
    return {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}


def test_int8_graph_is_tensorrts_symmetric_scheme(variants):
    model = onnx.load(str(variants["int8"]))
    inits = initializers(model)
    nodes = {n.output[0]: n for n in model.graph.node}
    q = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert q and dq
    for node in q + dq:
        zero = inits[node.input[2]]
        assert zero.dtype == np.int8 and not zero.any(), f"{node.name}: zero point {zero} is not symmetric int8"
    for node in dq:  # TensorRT's parser dequantizes int8 only: biases stay float
        x = inits.get(node.input[0])
        assert x is None or x.dtype == np.int8, f"{node.name} dequantizes {x.dtype}"
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    for conv in convs:
        x, w = (nodes[i] for i in conv.input[:2])
        assert x.op_type == "DequantizeLinear" and inits[x.input[1]].ndim == 0, (
            f"{conv.name}: activation not per tensor")
        scale = inits[w.input[1]]
        assert w.op_type == "DequantizeLinear" and scale.shape == (inits[w.input[0]].shape[0],), (
            f"{conv.name}: weight not per channel")
        assert inits[w.input[0]].dtype == np.int8
        assert len(conv.input) < 3 or conv.input[2] in inits and inits[conv.input[2]].dtype == np.float32
    assert [o.domain for o in model.opset_import] == [""] and lint(model) == []


def test_int8_places_qdq_by_tensorrts_rules(variants):
    """Q/DQ on the inputs of weighted layers and on the residual input of each Add that follows a Conv; a Conv's
    output is quantized only where it feeds another Conv or a MaxPool (int8 keeps flowing), never for an Add."""
    model = onnx.load(str(variants["int8"]))
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    residual = 0
    for add in (n for n in model.graph.node if n.op_type == "Add"):
        sources = [producer[i].op_type if i in producer else "input" for i in add.input]
        if sources.count("Conv") == 1:
            residual += 1
            assert "DequantizeLinear" in sources, f"{add.name}: residual input not quantized ({sources})"
    assert residual >= 8  # the encoder's basic blocks and the decoder's chained residual pooling
    for q in (n for n in model.graph.node if n.op_type == "QuantizeLinear"):
        source = producer.get(q.input[0])
        if source is not None and source.op_type == "Conv":
            users = {u.op_type for dq in consumers[q.output[0]] for u in consumers[dq.output[0]]}
            allowed = {"Conv", "MaxPool"} | ({"Add"} if ".downsample" in source.name else set())
            assert users <= allowed, f"{q.name}: the output of {source.name} quantized for {users}"
        if source is not None and source.op_type == "Add":  # quantized only as the residual input of the next Add
            users = {u.op_type for dq in consumers[q.output[0]] for u in consumers[dq.output[0]]}
            assert users <= {"Add", "Conv", "MaxPool"}, f"{q.name}: the output of {source.name} quantized for {users}"
    downsample_adds = [a for a in model.graph.node if a.op_type == "Add"
                       and any(".downsample" in producer[producer[producer[i].input[0]].input[0]].name
                               for i in a.input if producer.get(i) is not None
                               and producer[i].op_type == "DequantizeLinear"
                               and producer[i].input[0] in producer)]
    assert len(downsample_adds) == 3  # layer2.0, layer3.0, layer4.0: the downsample side is the residual


def test_scoring_runs_no_integer_kernel(variants, tmp_path):
    """Accuracy never depends on the host: the scoring session leaves Q/DQ as float operations, so ONNX Runtime
    forms no integer kernel (whose 16-bit pair sums saturate on x86 without VNNI), whichever CPU runs it."""
    for name in ("int8", "int8-cpu"):
        options = scoring_options(ort, name)
        options.optimized_model_filepath = str(tmp_path / f"{name}.optimized.onnx")
        ort.InferenceSession(str(variants[name]), options, providers=["CPUExecutionProvider"])
        ops = {n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node}
        assert "DequantizeLinear" in ops and not {o for o in ops if o.startswith("QLinear") or o.endswith("Integer")}
    fused = ort.SessionOptions()  # the harness itself: with optimizations on, ONNX Runtime does fuse int8-cpu
    fused.optimized_model_filepath = str(tmp_path / "fused.onnx")
    ort.InferenceSession(str(variants["int8-cpu"]), fused, providers=["CPUExecutionProvider"])
    assert "QLinearConv" in {n.op_type for n in onnx.load(fused.optimized_model_filepath).graph.node}


def test_pre_and_post_processing_stay_float(variants):
    """No Q/DQ outside the network body: argmax, softmax and the input normalisation see float32."""
    for name in ("int8", "int8-cpu"):
        model = onnx.shape_inference.infer_shapes(onnx.load(str(variants[name])))
        types = {v.name: v.type.tensor_type.elem_type for v in (*model.graph.value_info, *model.graph.input)}
        for node in model.graph.node:
            if node.op_type in ("ArgMax", "Softmax"):
                assert types[node.input[0]] == onnx.TensorProto.FLOAT, (name, node.op_type)
        # the normalisation: every node with no Conv upstream takes float tensors, never a DequantizeLinear's
        # (the export places one modality's normalisation after the other's stem Conv: node order is no guide)
        after_conv, dequantized = set(), {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
        pre = []
        for node in model.graph.node:
            if node.op_type == "Conv" or any(x in after_conv for x in node.input):
                after_conv.update(node.output)
            elif node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
                pre.append(node)
        assert any(n.op_type == "Mul" for n in pre), [n.op_type for n in pre]
        assert not [n.name for n in pre if dequantized & set(n.input)], name
    fp16 = onnx.shape_inference.infer_shapes(onnx.load(str(variants["fp16"])))
    types = {v.name: v.type.tensor_type.elem_type for v in fp16.graph.value_info}
    argmax = next(n for n in fp16.graph.node if n.op_type == "ArgMax")
    assert types[argmax.input[0]] == onnx.TensorProto.FLOAT
    assert not any(n.op_type == "Cast" and n.input[0] == n.output[0] for n in fp16.graph.node)
    inits = {t.name: t for t in fp16.graph.initializer}
    weights = [inits[n.input[1]] for n in fp16.graph.node if n.op_type == "Conv"]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)


def test_int8_cpu_uses_uint8_activations(variants):
    model = onnx.load(str(variants["int8-cpu"]))
    inits = initializers(model)
    zeros = [inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert zeros and all(z.dtype == np.uint8 for z in zeros)


def test_variants_keep_the_io_contract_and_agree_with_fp32(fp32, variants):
    samples = list(SyntheticScenes(seed=21, n=2, height=H, width=W, split="val"))
    reference = outputs(fp32, samples)
    for name, path in variants.items():
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [(i.name, i.type) for i in session.get_inputs()] == [("rgb", "tensor(uint8)"),
                                                                    ("depth", "tensor(float)")]
        got = outputs(path, samples)
        agreement = np.mean([(g["labels"] == r["labels"]).mean() for g, r in zip(got, reference)])
        logit_err = max(np.abs(g["logits"] - r["logits"]).max() for g, r in zip(got, reference))
        # an untrained net has tiny logit margins, so these bounds are loose;
        # docs/results/precision.md has a trained one
        assert agreement >= (0.99 if name == "fp16" else 0.85), (name, agreement)
        assert logit_err <= (5e-3 if name == "fp16" else 0.1), (name, logit_err)
        assert got[0]["labels"].dtype == np.uint8 and got[0]["confidence"].dtype == np.float32


def test_metadata_says_what_was_done(fp32, variants, calib):
    meta = read_metadata(variants["int8"])
    assert ModelContract.from_metadata(meta).precision == "int8"
    assert (meta["quantization"]["method"] == "minmax"
            and meta["quantization"]["calibration"]["content_sha256"] == calib.content_sha256)
    assert meta["source_sha256"] == __import__("amf_edge.files", fromlist=["x"]).file_sha256(fp32)
    assert read_metadata(variants["fp16"])["labels"] == read_metadata(fp32)["labels"]
    with pytest.raises(AmfEdgeError, match="already a int8 model"):
        make_variant(variants["int8"], fp32.parent / "again.onnx", QuantizeOptions("fp16"))
    with pytest.raises(AmfEdgeError, match="needs a calibration set"):
        make_variant(fp32, fp32.parent / "x.onnx", QuantizeOptions("int8"))


def test_calibration_cache_is_reused_and_a_stale_one_is_an_error(fp32, calib, tmp_path):
    cache = tmp_path / "c.json"
    first = make_variant(fp32, tmp_path / "a.onnx", QuantizeOptions("int8", method="minmax"), calib=calib, cache=cache)
    assert read_metadata(first)["quantization"]["calibration"]["reused"] is False and cache.exists()
    second = make_variant(fp32, tmp_path / "b.onnx", QuantizeOptions("int8", method="minmax"), calib=calib, cache=cache)
    assert read_metadata(second)["quantization"]["calibration"]["reused"] is True
    a, b = (initializers(onnx.load(str(p))) for p in (first, second))
    assert all(np.array_equal(a[k], b[k]) for k in a)  # same ranges → same graph
    with pytest.raises(AmfEdgeError, match="stale calibration cache.*method"):
        make_variant(fp32, tmp_path / "c.onnx", QuantizeOptions("int8", method="percentile"), calib=calib, cache=cache)


def test_kept_nodes_stay_float(fp32, calib, tmp_path):
    model = onnx.load(str(fp32))
    name_nodes(model)
    keep = split_body(model).convs[:2]
    path = make_variant(fp32, tmp_path / "k.onnx", QuantizeOptions("int8", method="minmax", keep=tuple(keep)),
                        calib=calib)
    graph = onnx.load(str(path)).graph
    producers = {o: n for n in graph.node for o in n.output}
    for name in keep:
        conv = next(n for n in graph.node if n.name == name)
        assert all(producers.get(i) is None or producers[i].op_type != "DequantizeLinear" for i in conv.input), name


def test_sensitivity_keeps_the_most_sensitive_convs_until_within_budget(fp32, calib, tmp_path, monkeypatch):
    """The search logic with a fake scorer: each kept Conv recovers a known amount of mIoU."""
    model = onnx.load(str(fp32))
    name_nodes(model)
    convs = split_body(model).convs[:6]
    monkeypatch.setattr(sensitivity, "split_body", lambda m: type("B", (), {"convs": convs})())
    cost = dict(zip(convs, [0.1, 3.0, 0.2, 2.0, 0.05, 0.4]))  # mIoU points lost by quantizing each
    made = []

    def fake_make(src, out, options, **kw):
        made.append(options.keep)
        Path(out).write_text(json.dumps(list(options.keep) if Path(src) == fp32 else None))
        return Path(out)

    def fake_miou(path, dataset, k, limit):
        kept = json.loads(Path(path).read_text()) if Path(path) != fp32 else convs
        return (60 - sum(c for n, c in cost.items() if n not in kept)) / 100

    class FakePredictor:
        def __init__(self, path):
            self.kept = json.loads(Path(path).read_text()) if Path(path) != fp32 else convs

        def __call__(self, sample):  # agreement with FP32 grows with the cost recovered
            n = int(sample.label.size * (1 - sum(c for k, c in cost.items() if k not in self.kept) / 10))
            return {"ensemble": np.r_[sample.label.ravel()[:n], sample.label.ravel()[n:] + 1]}

    monkeypatch.setattr(sensitivity, "make_variant", fake_make)
    monkeypatch.setattr(sensitivity, "miou", fake_miou)
    monkeypatch.setattr(sensitivity, "OnnxPredictor", FakePredictor)
    val = [type("S", (), {"label": np.arange(100)})()]
    val = type("V", (list,), {"labels": SYNTHETIC_LABELS})(val)
    report = sensitivity.find_kept_layers(fp32, tmp_path / "o.onnx", QuantizeOptions("int8"), calib,
                                          tmp_path / "c.json", val, max_drop=1.0)
    assert [r["node"] for r in report["ranking"]][:3] == [convs[1], convs[3], convs[5]]
    assert report["kept"] == [convs[1], convs[3]]  # 1 kept: 2.75 lost; 2 kept: 0.75 ≤ 1.0
    assert report["fp32_miou"] - report["miou"] == pytest.approx(0.75)
    with pytest.raises(AmfEdgeError, match="even with all 6 Convs"):
        sensitivity.find_kept_layers(fp32, tmp_path / "o.onnx", QuantizeOptions("int8"), calib, tmp_path / "c.json",
                                     val, max_drop=-1.0)


def test_quantize_command(fp32, tmp_path, capsys):
    out = tmp_path / "cli.int8.onnx"
    args = ["quantize", str(fp32), "--precision", "int8", "--calib", str(CALIB), "--method", "minmax", "-o", str(out),
            "--val-frames", "2"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert ("ensemble mIoU on 2 validation frames" in text and out.exists()
            and (tmp_path / "cli.int8.onnx.calib.json").exists())
    assert main(["quantize", str(fp32), "--precision", "int8", "-o", str(tmp_path / "x.onnx")]) == 1
    assert "needs --calib" in capsys.readouterr().err


def test_a_drop_beyond_the_budget_writes_nothing(fp32, tmp_path, capsys):
    """The budget is checked before the variant takes its name: a failed check leaves no file behind."""
    out = tmp_path / "over.int8.onnx"
    args = ["quantize", str(fp32), "--precision", "int8", "--calib", str(CALIB), "--method", "minmax", "-o", str(out),
            "--val-frames", "2", "--budget", "-100"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "so " + str(out) + " was not written" in err and "--max-drop -100" in err and "Traceback" not in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["over.int8.onnx.calib.json"]


def test_eval_scores_an_onnx_model_like_its_checkpoint(tiny_checkpoint, tmp_path):
    """At output stride 1 (the official protocol's full-resolution argmax, which `eval` of a checkpoint uses) every
    pixel is scored the same."""
    full = export_onnx(load_checkpoint(tiny_checkpoint()), "cd" * 32, tmp_path / "full.onnx", height=H, width=W,
                       output_stride=1)
    data = f"synthetic://?seed=3&n=4&val=3&height={H}&width={W}"
    for model, out in ((tiny_checkpoint(), "pt"), (full, "onnx")):
        assert main(["eval", str(model), "--data", data, "--protocol", "fast", "--out", str(tmp_path / out)]) == 0
    pt, onnx_ = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("pt", "onnx"))
    assert onnx_["protocol"] == "onnx (fp32)" and list(onnx_["heads"]) == ["ensemble", "rgb"]  # + labels_rgb
    assert onnx_["heads"]["ensemble"]["confusion"] == pt["heads"]["ensemble"]["confusion"]
    assert (tmp_path / "onnx" / "images" / "0000.png").exists()


def test_calibration_methods_give_their_own_ranges_and_never_clip_the_inputs(tmp_path):
    """On a skewed tensor (mostly small values, rare large ones) minmax keeps the maximum, entropy and percentile
    clip it, each differently; the tensor that the first Conv sees straight from the network's input keeps its
    whole range whatever the method."""
    from onnx import TensorProto, helper, numpy_helper

    from amf_edge.convert.quantize import calibrate, sensor_tensors

    q = pytest.importorskip("onnxruntime.quantization")
    eye = numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv1"), helper.make_node("Conv", ["y", "w"], ["z"],
                                                                                     name="conv2")],
        "skewed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 32, 32])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 1, 32, 32])], [eye])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = tmp_path / "skewed.onnx"
    onnx.save(model, str(path))
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(8):
        x = rng.normal(0, 0.1, (1, 1, 32, 32)).astype(np.float32)
        x.flat[rng.integers(0, x.size, 2)] = 8.0  # rare outliers: 0.2 % of the values
        batches.append({"x": x})

    class Reader:
        def __init__(self):
            self.items = iter(batches)

        def get_next(self):
            return next(self.items, None)

    assert sensor_tensors(model) == {"x"}
    peak = max(float(np.abs(b["x"]).max()) for b in batches)
    found = {}
    for method in ("minmax", "entropy", "percentile"):
        ranges = calibrate(q, path, Reader(), QuantizeOptions("int8", method=method, percentile=99.0), ["Conv"],
                           {"x"}, tmp_path)
        found[method] = float(np.abs(np.asarray(ranges["y"].range_value)).max())
        assert float(np.abs(np.asarray(ranges["x"].range_value)).max()) == pytest.approx(peak), method
    assert found["minmax"] == pytest.approx(peak)
    assert found["entropy"] < 0.5 * peak and found["percentile"] < 0.5 * peak
    assert found["entropy"] != pytest.approx(found["percentile"], rel=0.05)


@pytest.mark.slow
def test_every_variant_keeps_the_depth_gate(tiny_checkpoint, calib, tmp_path):
    """A gated model (ModelConfig.depth_gate) in FP16 and INT8: made and linted for TensorRT like any
    other, and the RGB head still ignores what is left of a failed depth map."""
    from amf_edge.depth_holes import remove_depth

    fp32 = export_onnx(load_checkpoint(tiny_checkpoint(depth_gate=0.4)), "ef" * 32, tmp_path / "fp32.onnx",
                       height=H, width=W, outputs=("labels", "labels_rgb"))
    sample = SyntheticScenes(seed=21, n=1, height=H, width=W, split="val")[0]
    rng = np.random.default_rng(0)
    failed = [remove_depth(sample, 1.0, rng), remove_depth(sample, 0.8, rng)]
    for precision in ("fp16", "int8"):  # the TensorRT variants
        path = make_variant(fp32, tmp_path / f"{precision}.onnx", QuantizeOptions(precision, method="minmax"),
                            calib=calib)
        blank, sparse = outputs(path, failed)
        assert np.array_equal(blank["labels_rgb"], sparse["labels_rgb"]), precision
        assert np.array_equal(blank["labels"], blank["labels_rgb"]), precision
