"""The TensorRT parser lint, on small hand-made graphs that break each rule, and on a real export."""

import importlib.util
import json
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from amf_edge.convert.lint import check_tensorrt_parsable, lint  # noqa: E402
from amf_edge.errors import AmfEdgeError  # noqa: E402


def graph(nodes, inputs, outputs, initializers=(), opset=18):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def tensor(name, dtype=TensorProto.FLOAT, shape=(1, 3, 4, 4)):
    return helper.make_tensor_value_info(name, dtype, list(shape))


def test_a_clean_graph_passes():
    model = graph([helper.make_node("Relu", ["x"], ["y"])], [tensor("x")], [tensor("y")])
    assert lint(model) == []
    check_tensorrt_parsable(model)


@pytest.mark.parametrize("model, message", [
    (graph([helper.make_node("Unique", ["x"], ["y"])], [tensor("x")], [tensor("y")]), "not supported by TensorRT"),
    (graph([helper.make_node("Relu", ["x"], ["y"], domain="com.microsoft")], [tensor("x")], [tensor("y")]),
     "custom domain"),
    (graph([helper.make_node("Relu", ["x"], ["y"])], [tensor("x")], [tensor("y")], opset=21), "opsets 9 to 20"),
    (graph([helper.make_node("Resize", ["x", "", "s"], ["y"], mode="cubic")], [tensor("x")], [tensor("y")],
           [helper.make_tensor("s", TensorProto.FLOAT, [4], [1, 1, 2, 2])]), "mode 'cubic'"),
    (graph([helper.make_node("Squeeze", ["x", "a"], ["y"])], [tensor("x"), tensor("a", TensorProto.INT64, (1,))],
           [tensor("y", shape=(3, 4, 4))]), "axes input must be a constant"),
    (graph([helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2])], [tensor("x")],
           [tensor("y"), tensor("i", TensorProto.INT64)]), "Indices output"),
    (graph([helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
            helper.make_node("Cast", ["t"], ["y"], to=1)],
           [tensor("x", TensorProto.UINT8, (1, 4, 4, 3))], [tensor("y")]), "uint8 tensor 't' inside the graph"),
])
def test_each_rule_is_enforced(model, message):
    assert any(message in p for p in lint(model)), lint(model)
    with pytest.raises(AmfEdgeError, match="would not parse in TensorRT"):
        check_tensorrt_parsable(model)


def test_uint8_is_fine_at_the_edges():
    model = graph([helper.make_node("Cast", ["x"], ["f"], to=1), helper.make_node("Relu", ["f"], ["r"]),
                   helper.make_node("Cast", ["r"], ["y"], to=TensorProto.UINT8)],
                  [tensor("x", TensorProto.UINT8)], [tensor("y", TensorProto.UINT8)])
    assert lint(model) == []


# --- types, Q/DQ and the per-release tables (onnx-tensorrt's docs/operators.md) -------------------------------

np = pytest.importorskip("numpy")
from amf_edge.convert.lint import RESIZE_COORDINATES, RESIZE_MODES, lint_all_versions, load_table, versions  # noqa: E402,I001

ROOT = Path(__file__).resolve().parents[2]


def qdq_conv(bias=TensorProto.FLOAT, zero=0, weight_axis=0, activation_scale=(), quantized=TensorProto.INT8):
    """x → Q → DQ → Conv(·, DQ(int8 weight), bias) → y, as TensorRT wants it unless an argument says otherwise:
    `bias` INT32 puts the bias behind a DequantizeLinear (ONNX Runtime's quantize_static default)."""
    n = int(np.prod(activation_scale))
    channels = {0: 4, 1: 3}[weight_axis]
    inits = [helper.make_tensor("x_scale", TensorProto.FLOAT, activation_scale, [0.02] * n),
             helper.make_tensor("x_zero", quantized, activation_scale, [zero] * n),
             helper.make_tensor("w", TensorProto.INT8, (4, 3, 3, 3), np.arange(108) % 7 - 3),
             helper.make_tensor("w_scale", TensorProto.FLOAT, (channels,), [0.01] * channels),
             helper.make_tensor("w_zero", TensorProto.INT8, (channels,), [0] * channels)]
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["xq"], name="x_q",
                              **({"axis": 1} if n > 1 else {})),
             helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zero"], ["xd"], name="x_dq",
                              **({"axis": 1} if n > 1 else {})),
             helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zero"], ["wd"], name="w_dq", axis=weight_axis)]
    if bias == TensorProto.INT32:
        inits += [helper.make_tensor("b", TensorProto.INT32, (4,), [5, -3, 0, 9]),
                  helper.make_tensor("b_scale", TensorProto.FLOAT, (4,), [2e-4] * 4),
                  helper.make_tensor("b_zero", TensorProto.INT32, (4,), [0] * 4)]
        nodes.append(helper.make_node("DequantizeLinear", ["b", "b_scale", "b_zero"], ["bd"], name="b_dq", axis=0))
    else:
        inits.append(helper.make_tensor("bd", TensorProto.FLOAT, (4,), [0.1, -0.2, 0.0, 0.3]))
    nodes.append(helper.make_node("Conv", ["xd", "wd", "bd"], ["y"], name="conv", pads=[1, 1, 1, 1]))
    return graph(nodes, [tensor("x", shape=(1, 3, 8, 8))], [tensor("y", shape=(1, 4, 8, 8))], inits)


def test_tensorrts_qdq_conv_passes_every_table():
    model = qdq_conv()
    assert lint_all_versions(model) == {v: [] for v in versions()}


@pytest.mark.parametrize("model, message", [
    (qdq_conv(bias=TensorProto.INT32), "DequantizeLinear node 'b_dq': input 'b' is INT32; "
                                       "TensorRT's DequantizeLinear accepts INT8, FP8, INT4"),
    (qdq_conv(zero=3), "QuantizeLinear node 'x_q': zero point 'x_zero' holds 3; TensorRT takes only zero points of 0"),
    (qdq_conv(weight_axis=1), "DequantizeLinear node 'w_dq': weight scale 'w_scale' is per channel on axis 1"),
    (qdq_conv(activation_scale=(3,)), "DequantizeLinear node 'x_dq': activation scale 'x_scale' has shape [3]"),
    (qdq_conv(quantized=TensorProto.UINT8), "QuantizeLinear node 'x_q': output 'xq' is UINT8; TensorRT quantizes to"),
    (graph([helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])], [tensor("x")],
           [tensor("y", TensorProto.UINT8), tensor("s", shape=()), tensor("z", TensorProto.UINT8, ())]),
     "not supported by TensorRT's ONNX parser (marked N in operators.md 10.1)"),
    (graph([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", TensorProto.INT8)], [tensor("y", TensorProto.INT8)]),
     "Relu node 'y': input 'x' is INT8; TensorRT's Relu accepts FP32, FP16, BF16, INT32, INT64"),
    (graph([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", TensorProto.INT16)],
           [tensor("y", TensorProto.INT16)]), "input 'x' is INT16, which TensorRT does not have"),
    (graph([helper.make_node("Constant", [], ["c"], value_string="amf"), helper.make_node("Identity", ["x"], ["y"])],
           [tensor("x")], [tensor("y")]), "Constant node 'c': attribute 'value_string' is unsupported"),
])
def test_each_type_and_qdq_rule_is_enforced(model, message):
    problems = lint(model)
    assert any(message in p for p in problems), problems
    stem = message.split(";")[0].split(" (")[0]  # the part no release changes
    assert all(any(stem in p for p in found) for found in lint_all_versions(model).values())
    with pytest.raises(AmfEdgeError, match=r"would not parse in TensorRT 10\.3 \(checked against .* of 10\.1\)"):
        check_tensorrt_parsable(model)


def test_int8_constants_feeding_dequantize_are_weights():
    """Constant's row lists no INT8, but a Constant read by a DequantizeLinear is a weight, as an initializer is."""
    model = graph([helper.make_node("Constant", [], ["w"], value=helper.make_tensor("v", TensorProto.INT8, (3,),
                                                                                      [1, -2, 3])),
                   helper.make_node("DequantizeLinear", ["w", "s"], ["y"])], [], [tensor("y", shape=(3,))],
                  [helper.make_tensor("s", TensorProto.FLOAT, (), [0.5])])
    assert lint(model) == []


def test_the_int32_bias_is_one_problem_not_two():
    """DequantizeLinear's x and zero point share one type: one line for the node, not one per tensor."""
    assert len(lint(qdq_conv(bias=TensorProto.INT32))) == 1


def _quantize(tmp_path, options):
    q = pytest.importorskip("onnxruntime.quantization")
    rng = np.random.default_rng(0)
    w = onnx.numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    b = onnx.numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    src = tmp_path / "conv.onnx"
    onnx.save(graph([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])],
                    [tensor("x", shape=(1, 3, 8, 8))], [tensor("y", shape=(1, 4, 8, 8))], [w, b], opset=17), str(src))
    samples = iter([{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(2)])

    class Reader(q.CalibrationDataReader):
        def get_next(self):
            return next(samples, None)

    out = tmp_path / "qdq.onnx"
    q.quantize_static(str(src), str(out), Reader(), quant_format=q.QuantFormat.QDQ, **options(q))
    model = onnx.load(str(out))
    inits = {t.name: t.data_type for t in model.graph.initializer}
    int32_dq = [n.name for n in model.graph.node
                if n.op_type == "DequantizeLinear" and inits.get(n.input[0]) == TensorProto.INT32]
    return model, int32_dq


def test_onnx_runtimes_default_qdq_conv_is_refused_for_its_int32_bias(tmp_path):
    model, int32_dq = _quantize(tmp_path, options=lambda q: {})
    assert len(int32_dq) == 1  # quantize_static's default: the Conv bias as int32 behind a DequantizeLinear
    problems = lint(model)
    assert any(p.startswith(f"DequantizeLinear node '{int32_dq[0]}'") and "is INT32" in p
               and "accepts INT8, FP8, INT4" in p for p in problems), problems


def test_onnx_runtimes_qdq_in_tensorrts_scheme_passes_once_biases_stay_float(tmp_path):
    def scheme(q, **extra):
        return {"per_channel": True, "activation_type": q.QuantType.QInt8, "weight_type": q.QuantType.QInt8,
                "extra_options": {"ActivationSymmetric": True, "WeightSymmetric": True, **extra}}

    model, int32_dq = _quantize(tmp_path, options=scheme)
    assert [p.split(":")[0] for p in lint(model)] == [f"DequantizeLinear node '{int32_dq[0]}'"]
    model, int32_dq = _quantize(tmp_path, options=lambda q: scheme(q, QuantizeBias=False))
    assert not int32_dq and lint_all_versions(model) == {v: [] for v in versions()}


def test_restrictions_and_opsets_follow_the_release():
    """Slice's axes must be an initializer in 10.1's text (so for 10.3), not in 10.16's; opset 21 came later."""
    model = graph([helper.make_node("Slice", ["x", "s", "e", "a"], ["y"])],
                  [tensor("x"), *(tensor(n, TensorProto.INT64, (1,)) for n in "sea")], [tensor("y")])
    assert any("its axes input must be a constant" in p for p in lint(model, "10.3"))
    assert lint(model, "10.16") == []
    relu21 = graph([helper.make_node("Relu", ["x"], ["y"])], [tensor("x")], [tensor("y")], opset=21)
    assert lint(relu21, "10.3") and lint(relu21, "11.1") == []


def test_tables_resolve_to_the_newest_release_at_or_below():
    assert versions()[0] == "10.1" and "11.1" in versions()
    assert load_table("10.3")["version"] == load_table("10.3.0.26")["version"] == "10.1"
    assert load_table("10.16")["version"] == "10.16" and load_table("11.3")["version"] == versions()[-1]
    with pytest.raises(AmfEdgeError, match="no TensorRT operator table at or below 8.6"):
        load_table("8.6")


@pytest.mark.parametrize("version", versions())
def test_each_table_names_its_source_and_agrees_with_the_hand_written_rules(version):
    table = load_table(version)
    assert table["source"]["repo"] == "onnx/onnx-tensorrt" and len(table["source"]["commit"]) == 40
    assert table["ops"]["DequantizeLinear"]["types"][0] == "INT8"
    assert not {"INT32", "UINT8"} & set(table["ops"]["DequantizeLinear"]["types"])
    resize = table["ops"]["Resize"]["restrictions"]
    assert all(f"`{m}`" in resize for m in RESIZE_MODES | RESIZE_COORDINATES) and "Antialiasing is not" in resize


OPERATORS_MD = """\
# Supported ONNX Operators

TensorRT 10.9 supports operators in the inclusive range of opset 9 to opset 22. Latest information ...

TensorRT supports the following ONNX data types: DOUBLE, FLOAT32, FLOAT16, BFLOAT16, INT32, INT64, FP8, INT8, and BOOL

> Note: UINT8 is only supported as network input or output tensor types.

## Operator Support Matrix

| Operator                  | Supported  | Supported Types | Restrictions                                     |
|---------------------------|------------|-----------------|--------------------------------------------------|
| AffineGrid                | N          |
| ConstantOfShape           | Y          | FP32, FP16, BF16, INT32, INF64, BOOL |
| DequantizeLinear          | Y          | INT8, FP8, INT4 | `x_zero_point` must be zero                       |
| DynamicQuantizeLinear     | N          | Not supported. TensorRT's IDynamicQuantize can be composed.
| Selu                      | Y          | FP32, FP16, BF16, |
| Slice                     | Y          | FP32, FP16, BF16, INT32, INT64, BOOL | `axes` must be an initializer   |
| Xor                       | Y          | BOOL

## TensorRT Custom Operators
"""


def test_the_generator_parses_operators_md():
    spec = importlib.util.spec_from_file_location("onnx_trt_operators", ROOT / "scripts" / "onnx_trt_operators.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    source = {"repo": "onnx/onnx-tensorrt", "path": "docs/operators.md", "ref": "10.9-GA", "commit": "0" * 40}
    table = generator.table(OPERATORS_MD, "10.9", source)
    assert table["document"] == {"tensorrt": "10.9", "opsets": [9, 22],
                                 "data_types": ["DOUBLE", "FP32", "FP16", "BF16", "INT32", "INT64", "FP8", "INT8",
                                                "BOOL"],
                                 "notes": ["UINT8 is only supported as network input or output tensor types."]}
    assert table["normalized"] == {"INF64": "INT64"} and table["source"] == source
    assert table["ops"] == {
        "AffineGrid": {"supported": False, "types": [], "restrictions": ""},
        "ConstantOfShape": {"supported": True, "types": ["FP32", "FP16", "BF16", "INT32", "INT64", "BOOL"],
                            "restrictions": ""},
        "DequantizeLinear": {"supported": True, "types": ["INT8", "FP8", "INT4"],
                             "restrictions": "`x_zero_point` must be zero"},
        "DynamicQuantizeLinear": {"supported": False, "types": [],
                                  "restrictions": "Not supported. TensorRT's IDynamicQuantize can be composed."},
        "Selu": {"supported": True, "types": ["FP32", "FP16", "BF16"], "restrictions": ""},
        "Slice": {"supported": True, "types": ["FP32", "FP16", "BF16", "INT32", "INT64", "BOOL"],
                  "restrictions": "`axes` must be an initializer"},
        "Xor": {"supported": True, "types": ["BOOL"], "restrictions": ""},
    }
    assert json.loads(generator.dump(table)) == table
    with pytest.raises(ValueError, match="unknown type name 'FP64'"):
        generator.parse(OPERATORS_MD.replace("INT8, FP8, INT4", "INT8, FP64"))
