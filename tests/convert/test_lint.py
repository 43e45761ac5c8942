"""The TensorRT parser lint, on small hand-made graphs that break each rule, and on a real export."""

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
