"""Labels from an exported ONNX model in ONNX Runtime on the CPU, for evaluation and accuracy checks.

The deployment runtime has its own backends (runtime/backends); this is the small predictor that
`amf-edge eval` and the quantizer's sensitivity pass share, so their numbers come from one code path.

Quantized models are scored in the arithmetic TensorRT runs, on any host. With its default optimizations
ONNX Runtime fuses each Conv between Q/DQ pairs into an integer kernel; on x86 CPUs without VNNI that kernel
adds pairs of u8×s8 products in 16-bit registers, which saturate (tens of mIoU points lost on a trained model,
none on a VNNI host). So scores never come from those kernels: the predictor runs Q/DQ as float operations
(optimizations off), where int8 values times their scales are multiplied and summed in float32, the integer
result to within float rounding, whichever CPU runs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amf_edge.contract import HEAD_OUTPUTS, ModelContract, decode_metadata
from amf_edge.lazy import require_module
from amf_edge.sample import RGBDSample
from amf_edge.transforms import resize_sample

QUANTIZED = ("int8", "int8-cpu")  # precisions whose graphs hold Q/DQ
HEAD_LABELS = {"labels": "ensemble", **HEAD_OUTPUTS}  # output → the head it labels


def scoring_options(ort, precision: str, threads: int = 0):
    """Session options that score a model of `precision` in exact arithmetic on any host (see above)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if precision in QUANTIZED:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return options


class OnnxPredictor:
    """`predictor(sample)` → {"ensemble": uint8 labels at the sample's size, and "rgb"/"depth" for the heads' labels
    the model outputs}.

    A static model sees the frame resized to its input size (as the runtime's sources do with
    ?width=&height=); its labels are resized back with nearest-neighbour, so scores are counted against
    the ground truth at the data's own resolution.
    """

    def __init__(self, path: str | Path, threads: int = 0):
        ort = require_module("onnxruntime", "running ONNX models")
        self.session = ort.InferenceSession(str(path), scoring_options(ort, "fp32", threads),
                                            providers=["CPUExecutionProvider"])
        meta = decode_metadata(self.session.get_modelmeta().custom_metadata_map, str(path))
        self.contract = ModelContract.from_metadata(meta)
        self.precision = meta.get("precision", "fp32")
        if self.precision in QUANTIZED:  # the metadata comes with the session: open it again, unfused
            self.session = ort.InferenceSession(str(path), scoring_options(ort, self.precision, threads),
                                                providers=["CPUExecutionProvider"])

    def __call__(self, sample: RGBDSample) -> dict[str, np.ndarray]:
        c, size = self.contract, sample.size
        if not c.dynamic and size != (c.height, c.width):
            sample = resize_sample(sample, c.height, c.width)
        names = [n for n in HEAD_LABELS if n in c.outputs]
        found = {}
        for name, labels in zip(names, self.session.run(names, c.inputs(sample))):
            labels = labels[0]
            if labels.shape != size:
                cv2 = require_module("cv2")
                labels = cv2.resize(labels, size[::-1], interpolation=cv2.INTER_NEAREST_EXACT)
            found[HEAD_LABELS[name]] = labels
        return found
