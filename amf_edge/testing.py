"""A torch-free toy model for tests and experiments: the runtime end to end without a trained network.

`toy_model` writes a hand-made ONNX graph with amf-edge metadata: labels = argmax over the RGB channels, plus
0 × the mean depth, which, like a CNN, spreads a NaN anywhere in the depth to every pixel. `conv_channels`
adds 0 × two 9×9 convolutions of the picture: a few ms of real ONNX Runtime work per frame, so that a signal
lands while the inference thread is inside ONNX Runtime. `rgb_head` adds a `labels_rgb` output (argmin over the
RGB channels: labels that differ from the ensemble's), as the RGB head of an exported AsymFusion, for the depth
fallback; `depth_dropout` goes into the metadata as an export writes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def toy_model(path: Path, height: int, width: int, conv_channels: int = 0, *, rgb_head: bool = False,
              depth_dropout: float | None = None) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Cast", ["rgb"], ["rgbf"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["depth"], ["dm"], keepdims=0)]
    initializers = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    if conv_channels:
        c, rng = conv_channels, np.random.default_rng(0)
        nodes += [helper.make_node("Transpose", ["rgbf"], ["nchw"], perm=[0, 3, 1, 2]),
                  helper.make_node("Conv", ["nchw", "w1"], ["c1"], pads=[4, 4, 4, 4]),
                  helper.make_node("Conv", ["c1", "w2"], ["c2"], pads=[4, 4, 4, 4]),
                  helper.make_node("ReduceMean", ["c2"], ["cm"], keepdims=0),
                  helper.make_node("Add", ["cm", "dm"], ["m"])]
        initializers += [numpy_helper.from_array(rng.standard_normal((c, 3, 9, 9)).astype(np.float32), "w1"),
                         numpy_helper.from_array(rng.standard_normal((c, c, 9, 9)).astype(np.float32), "w2")]
    nodes += [helper.make_node("Mul", ["m" if conv_channels else "dm", "zero"], ["z"]),  # NaN × 0 = NaN
              helper.make_node("Add", ["rgbf", "z"], ["logits"]),
              helper.make_node("ArgMax", ["logits"], ["index"], axis=3, keepdims=0),
              helper.make_node("Cast", ["index"], ["labels"], to=TensorProto.UINT8)]
    outputs = [helper.make_tensor_value_info("labels", TensorProto.UINT8, [1, height, width])]
    if rgb_head:
        nodes += [helper.make_node("ArgMin", ["logits"], ["index_rgb"], axis=3, keepdims=0),
                  helper.make_node("Cast", ["index_rgb"], ["labels_rgb"], to=TensorProto.UINT8)]
        outputs.append(helper.make_tensor_value_info("labels_rgb", TensorProto.UINT8, [1, height, width]))
    graph = helper.make_graph(
        nodes, "toy",
        [helper.make_tensor_value_info("rgb", TensorProto.UINT8, [1, height, width, 3]),
         helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, height, width])],
        outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"labels": {"name": "toy", "names": ["red", "green", "blue"],
                       "palette": [[255, 0, 0], [0, 255, 0], [0, 0, 255]]},
            "input_contract": {"rgb": {"dtype": "uint8", "shape": ["N", height, width, 3], "channel_order": "RGB"},
                               "depth": {"dtype": "float32", "shape": ["N", height, width], "unit": "metre",
                                         "invalid": 0.0},
                               "outputs": [o.name for o in outputs]},
            "precision": "fp32", "depth_dropout": depth_dropout}
    for key, value in meta.items():
        model.metadata_props.add(key=f"amf_edge.{key}", value=json.dumps(value))
    onnx.save(model, str(path))
    return path
