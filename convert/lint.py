"""Check an ONNX graph against what TensorRT's ONNX parser accepts, where no TensorRT exists.

The operator table and restrictions are those of onnx-tensorrt's docs/operators.md at the 10.1 GA
release, the newest in our reference mirror; JetPack 6 ships TensorRT 10.3, whose parser accepts at least
these (parsers add operators, they do not drop them), so the lint is conservative for it. Only the
restrictions that the graphs amf-edge emits can run into are checked.
"""

from __future__ import annotations

from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module

TENSORRT_ONNX_OPS = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast CastLike Ceil Celu
Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DeformConv DepthToSpace DequantizeLinear
Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements GatherND Gelu Gemm
GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GridSample GroupNormalization GRU HardSigmoid
HardSwish Hardmax Identity If ImageScaler InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less
LessOrEqual Log LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean MeanVarianceNormalization
Min Mish Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad ParametricSoftplus Pow PRelu QuantizeLinear
RandomNormal RandomNormalLike RandomUniform RandomUniformLike Range Reciprocal ReduceLogSum ReduceLogSumExp ReduceMax
ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence RNN RoiAlign Round
ScaledTanh Scan Scatter ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax
Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu
Unsqueeze Upsample Where Xor
""".split())
OPSETS = range(9, 21)  # TensorRT 10.0+ parses opsets 9 to 20
RESIZE_MODES = {"nearest", "linear"}
RESIZE_COORDINATES = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
# op → index of its `axes` input, which the parser needs as an initializer (a constant)
CONSTANT_AXES = {"Slice": 3, "Squeeze": 1, "Unsqueeze": 1, "Pad": 3, "ReduceMax": 1, "ReduceMean": 1, "ReduceSum": 1}
UINT8 = 2  # onnx.TensorProto.UINT8


def lint(model) -> list[str]:
    """Problems that would stop TensorRT's ONNX parser, one line each (empty when none)."""
    onnx = require_module("onnx")
    problems = []
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version not in OPSETS:
            problems.append(f"opset {opset.version}: TensorRT 10 parses opsets {OPSETS.start} to {OPSETS.stop - 1}")
    try:  # types of intermediate tensors, for the uint8 rule
        graph = onnx.shape_inference.infer_shapes(model).graph
    except onnx.shape_inference.InferenceError:  # e.g. an unknown custom op: the other rules still apply
        graph = model.graph
    constants = ({t.name for t in graph.initializer}
                 | {o for n in graph.node if n.op_type == "Constant" for o in n.output})
    edges = {v.name for v in (*graph.input, *graph.output)}
    dtypes = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.input, *graph.output)}
    for node in graph.node:
        where = f"{node.op_type} node {node.name or node.output[0]!r}"
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{where}: custom domain {node.domain!r} needs a TensorRT plugin")
            continue
        if node.op_type not in TENSORRT_ONNX_OPS:
            problems.append(f"{where}: not supported by TensorRT's ONNX parser")
            continue
        if node.op_type == "Resize":
            mode, coords = (_text(attrs.get("mode", b"nearest")),
                            _text(attrs.get("coordinate_transformation_mode", b"half_pixel")))
            if mode not in RESIZE_MODES or coords not in RESIZE_COORDINATES or attrs.get("antialias", 0):
                problems.append(f"{where}: mode {mode!r}, coordinates {coords!r}, "
                                f"antialias {attrs.get('antialias', 0)}; "
                                f"TensorRT supports modes {sorted(RESIZE_MODES)} without antialiasing")
        if node.op_type == "MaxPool" and (len(node.output) > 1 and node.output[1]
                                          or any(d != 1 for d in attrs.get("dilations", []))):
            problems.append(f"{where}: the Indices output and dilations other than 1 are unsupported")
        axes = CONSTANT_AXES.get(node.op_type)
        if axes is not None and len(node.input) > axes and node.input[axes] and node.input[axes] not in constants:
            problems.append(f"{where}: its axes input must be a constant")
        if node.op_type != "Cast":
            for name in (*node.input, *node.output):
                if dtypes.get(name) == UINT8 and name not in edges:
                    problems.append(f"{where}: uint8 tensor {name!r} inside the graph; TensorRT has uint8 only on "
                                    "network inputs and outputs (cast next to them)")
    return problems


def check_tensorrt_parsable(model, source: str | Path = "the model") -> None:
    problems = lint(model)
    if problems:
        listed = "\n  ".join(problems[:10]) + (f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise AmfEdgeError(f"{source} would not parse in TensorRT:\n  {listed}")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
