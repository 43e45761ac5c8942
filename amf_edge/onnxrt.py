"""Labels from an exported ONNX model in ONNX Runtime on the CPU, for evaluation and accuracy checks.

The deployment runtime has its own backends (runtime/backends); this is the small predictor that
`amf-edge eval` and the quantizer's sensitivity pass share, so their numbers come from one code path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amf_edge.contract import ModelContract, decode_metadata
from amf_edge.lazy import require_module
from amf_edge.sample import RGBDSample
from amf_edge.transforms import resize_sample


class OnnxPredictor:
    """`predictor(sample)` → {"ensemble": uint8 labels at the sample's size}.

    A static model sees the frame resized to its input size (as the runtime's sources do with
    ?width=&height=); its labels are resized back with nearest-neighbour, so scores are counted against
    the ground truth at the data's own resolution.
    """

    def __init__(self, path: str | Path, threads: int = 0):
        ort = require_module("onnxruntime", "running ONNX models")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = decode_metadata(self.session.get_modelmeta().custom_metadata_map, str(path))
        self.contract = ModelContract.from_metadata(meta)

    def __call__(self, sample: RGBDSample) -> dict[str, np.ndarray]:
        c, size = self.contract, sample.size
        if not c.dynamic and size != (c.height, c.width):
            sample = resize_sample(sample, c.height, c.width)
        labels = self.session.run(["labels"], c.inputs(sample))[0][0]
        if labels.shape != size:
            cv2 = require_module("cv2")
            labels = cv2.resize(labels, size[::-1], interpolation=cv2.INTER_NEAREST_EXACT)
        return {"ensemble": labels}
