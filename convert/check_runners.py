"""The two sides of `amf-edge check`: what each model file is, and the Polygraphy runner that runs it.

An ONNX file runs in ONNX Runtime through Polygraphy's `OnnxrtRunner`, in the session every accuracy figure
of this project uses (`amf_edge.onnxrt.scoring_options`: for int8 and int8-cpu graphs, optimizations off, so
Q/DQ run as float arithmetic, the integer result TensorRT computes, on any host). Extra outputs are marked in
memory with Polygraphy's `ModifyOutputs`: the ensemble logits (the input of the Resize that feeds the ArgMax,
stride 4) and, for the layer-wise pass, every Conv's output. Conv nodes carry module paths as names
(convert/export.py), so a Conv is matched between two graphs by name: a Q/DQ variant adds nodes around them
but keeps them.

An engine bundle runs in Polygraphy's `TrtRunner`, after `amf_edge.bundle.load_bundle` has checked that this
TensorRT and this GPU can run it. Its outputs are the engine's own: marking intermediate tensors would need
another build, so the layer-wise pass is for ONNX pairs.

Every runner result is renamed to canonical names: "labels", "logits" and "conv:<module path>".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amf_edge.bundle import read_bundle
from amf_edge.contract import ModelContract, read_metadata
from amf_edge.errors import AmfEdgeError
from amf_edge.files import file_sha256
from amf_edge.inspection import load_onnx
from amf_edge.lazy import require_module

LOGITS, LABELS, CONV = "logits", "labels", "conv:"


@dataclass
class Side:
    """One model of a comparison."""

    path: Path
    kind: str  # "onnx" or "engine"
    precision: str
    contract: ModelContract
    sha256: str
    bundle: Any = None  # the engine's Bundle
    tensors: dict[str, str] = field(default_factory=dict)  # canonical name → tensor name in the graph
    convs: list[str] = field(default_factory=list)  # Conv module paths, in topological order

    @property
    def name(self) -> str:
        return self.path.name


def open_side(path: str | Path) -> Side:
    """An .onnx file (with amf-edge metadata) or an .engine bundle; anything else is an AmfEdgeError."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".engine":
        bundle = read_bundle(path)
        return Side(path, "engine", bundle.precision, ModelContract.from_metadata(bundle.metadata),
                    bundle.engine_sha256, bundle=bundle, tensors={o: o for o in bundle.metadata["input_contract"]
                                                                  ["outputs"] if o in (LABELS, LOGITS)})
    if suffix != ".onnx":
        raise AmfEdgeError(f"{path}: expected an ONNX model (.onnx) or a TensorRT engine bundle (.engine with its "
                           f".json); checkpoints (.pt) are compared after `amf-edge export CKPT -o MODEL.onnx`")
    if not path.is_file():
        raise AmfEdgeError(f"{path}: no such ONNX file; make one with `amf-edge export CKPT -o {path}`")
    model = load_onnx(path)
    meta = read_metadata(path)
    tensors = {LABELS: LABELS}
    logits = logits_tensor(model)
    if logits is not None:
        tensors[LOGITS] = logits
    convs = conv_outputs(model)
    tensors.update({CONV + name: out for name, out in convs.items()})
    return Side(path, "onnx", meta.get("precision", "fp32"), ModelContract.from_metadata(meta), file_sha256(path),
                tensors=tensors, convs=list(convs))


def logits_tensor(model) -> str | None:
    """The float logits the labels are the argmax of: the input of the Resize feeding the ArgMax (stride 4),
    else the ArgMax's own input (output stride 4: the labels are upsampled after the ArgMax, through the Resize
    walked past here); None for a graph whose labels come from no ArgMax."""
    producer = {out: node for node in model.graph.node for out in node.output}
    node = producer.get(LABELS)
    while node is not None and node.op_type in ("Cast", "Squeeze", "Unsqueeze", "Reshape", "Identity", "Resize",
                                                "Gather", "Slice"):
        node = producer.get(node.input[0])
    if node is None or node.op_type != "ArgMax":
        return None
    source = producer.get(node.input[0])
    return source.input[0] if source is not None and source.op_type == "Resize" else node.input[0]


def conv_outputs(model) -> dict[str, str]:
    """{Conv node name: its output tensor}, in graph order (ONNX keeps nodes topologically sorted)."""
    return {node.name: node.output[0] for node in model.graph.node if node.op_type == "Conv" and node.name}


def onnx_runner(side: Side, name: str, outputs: list[str]):
    """Polygraphy's OnnxrtRunner over the side's ONNX with `outputs` (canonical names) marked."""
    ort = require_module("onnxruntime", "running ONNX models")
    onnx = require_module("onnx", "reading ONNX models")
    backend = require_module("polygraphy.backend.onnx", "comparing models with Polygraphy")
    onnxrt = require_module("polygraphy.backend.onnxrt", "comparing models with Polygraphy")
    from amf_edge.onnxrt import scoring_options

    model = onnx.load(str(side.path))
    serialized = backend.BytesFromOnnx(backend.ModifyOutputs(model, outputs=[side.tensors[o] for o in outputs]))
    options = scoring_options(ort, side.precision)
    return onnxrt.OnnxrtRunner(lambda: ort.InferenceSession(serialized(), options,
                                                            providers=["CPUExecutionProvider"]), name=name)


def engine_runner(side: Side, name: str):
    """Polygraphy's TrtRunner over the bundle's engine, once this TensorRT and this GPU are shown to run it."""
    from amf_edge.bundle import load_bundle
    from amf_edge.gpu import query_device

    trt = require_module("tensorrt", "running TensorRT engines")
    bundle = load_bundle(side.path, tensorrt_version=trt.__version__, device=query_device())
    plan = side.path.read_bytes()
    if hashlib.sha256(plan).hexdigest() != bundle.engine_sha256:
        raise AmfEdgeError(f"{side.path} is not the engine its sidecar describes (replaced or damaged after the "
                           f"build); rebuild it: `{bundle.rebuild_command()} --force`")
    return trt_runner(plan, name, host_code_allowed=bool(bundle.options.get("version_compatible")))


def trt_runner(plan: bytes, name: str, *, host_code_allowed: bool = False):
    """The TensorRT runner proper (tests swap this for a stand-in: there is no GPU in CI)."""
    polygraphy_trt = require_module("polygraphy.backend.trt", "running TensorRT engines with Polygraphy")
    runtime = None
    if host_code_allowed:
        # a version-compatible plan carries TensorRT's lean runtime, which runs only when the plan is trusted;
        # this one's sha256 matched its sidecar above (as runtime/backends/trt.py does)
        trt = require_module("tensorrt", "running TensorRT engines")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        runtime.engine_host_code_allowed = True
    return polygraphy_trt.TrtRunner(polygraphy_trt.EngineFromBytes(plan, runtime=runtime), name=name)


def runner_for(side: Side, name: str, outputs: list[str]):
    if side.kind == "engine":
        return engine_runner(side, name)
    return onnx_runner(side, name, outputs)
