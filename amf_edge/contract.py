"""The model contract (numpy-only): what an exported model takes and gives, read from its metadata.

`amf-edge export` writes it into the ONNX file's metadata_props (keys "amf_edge.<name>", JSON values);
an engine bundle's sidecar JSON carries the same dict. The runtime reads everything it needs from here:
input size and channel order, outputs, classes and palette. Raw sensor units become model inputs in
one place, `ModelContract.inputs`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.sample import RGBDSample

METADATA_PREFIX = "amf_edge."
PRECISIONS = ("fp32", "fp16", "int8", "int8-cpu")
# What an exported model (and the .pt backend) can output, in graph order; the heads' labels by output name.
OUTPUTS = ("labels", "labels_rgb", "labels_depth", "logits", "confidence", "overlay")
HEAD_OUTPUTS = {"labels_rgb": "rgb", "labels_depth": "depth"}  # output → the modality head it labels
DEFAULT_OUTPUTS = ("labels", "labels_rgb")  # for RGB-D models: the runtime's depth fallback needs the RGB head's


def default_outputs(modalities: tuple[str, ...]) -> tuple[str, ...]:
    """The outputs a model with these heads gets unless asked otherwise."""
    return DEFAULT_OUTPUTS if set(modalities) == {"rgb", "depth"} else ("labels",)


def encode_metadata(values: dict[str, Any]) -> dict[str, str]:
    """{name: value} → ONNX metadata_props {"amf_edge.name": JSON}."""
    return {METADATA_PREFIX + k: json.dumps(v) for k, v in values.items()}


def read_metadata(path) -> dict[str, Any]:
    """The amf-edge metadata of an ONNX file, decoded. Needs only the onnx package (no torch), so engines
    can be built and variants made where PyTorch is absent."""
    from amf_edge.lazy import require_module

    onnx = require_module("onnx", "reading the model's metadata")
    model = onnx.load(str(path), load_external_data=False)
    return decode_metadata({p.key: p.value for p in model.metadata_props}, str(path))


def decode_metadata(props: dict[str, str], source: str = "model") -> dict[str, Any]:
    """ONNX metadata_props (or ONNX Runtime's custom_metadata_map) → {name: value}."""
    found = {k[len(METADATA_PREFIX):]: json.loads(v) for k, v in props.items() if k.startswith(METADATA_PREFIX)}
    if "input_contract" not in found:
        raise AmfEdgeError(f"{source} has no amf-edge metadata; export it with `amf-edge export`")
    return found


@dataclass(frozen=True)
class ModelContract:
    """The I/O contract of one exported model (fixed N=1, H, W unless `dynamic`)."""

    height: int | None
    width: int | None
    channel_order: str
    outputs: tuple[str, ...]
    labels: LabelSet
    precision: str = "fp32"
    metadata: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def dynamic(self) -> bool:
        return self.height is None

    @property
    def output_stride(self) -> int:
        """Where the model took the argmax of its labels: 1 (full input size), 2 or 4 (then repeated to it)."""
        return int(self.metadata.get("input_contract", {}).get("output_stride", 1))

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> ModelContract:
        io = meta["input_contract"]
        _, h, w, _ = io["rgb"]["shape"]
        return cls(
            height=h if isinstance(h, int) else None,
            width=w if isinstance(w, int) else None,
            channel_order=io["rgb"]["channel_order"],
            outputs=tuple(io["outputs"]),
            labels=LabelSet.from_dict(meta["labels"]),
            precision=meta.get("precision", "fp32"),
            metadata=meta,
        )

    def inputs(self, sample: RGBDSample) -> dict[str, np.ndarray]:
        """One aligned frame → the model's inputs: rgb uint8 1×H×W×3 in the declared channel order and
        depth float32 1×H×W in metres (raw counts × the frame's depth unit; 0 stays 0)."""
        h, w = sample.size
        if not self.dynamic and (h, w) != (self.height, self.width):
            raise AmfEdgeError(
                f"the frame is {h}×{w} but the model takes {self.height}×{self.width} (H×W); "
                f"resize the source (e.g. ?width={self.width}&height={self.height}) or export the model at {h}×{w}"
            )
        rgb = sample.rgb[..., ::-1] if self.channel_order == "BGR" else sample.rgb
        return {"rgb": np.ascontiguousarray(rgb)[None], "depth": sample.depth_m()[None]}
