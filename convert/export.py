"""Checkpoint → ONNX with sensor-level inputs, preprocessing and post-processing inside the graph.

Inputs:  rgb   uint8   N×H×W×3, as cameras deliver it, in the declared channel order;
         depth float32 N×H×W in metres, 0 = no measurement (TensorRT has no uint16 inputs: the
               runtime converts raw sensor counts to metres).
Outputs: labels       uint8   N×H×W  the ensemble's class ids at input resolution (argmax in the graph, at the
                      output stride: on logits upsampled to the input (1), to half of it (2), or at the
                      network's stride 4, the labels then repeated to the input size);
         labels_rgb   uint8   N×H×W  the RGB head's class ids, the same way (by default for RGB-D models: the
                      runtime falls back to them when depth fails, runtime/fallback.py);
         labels_depth uint8   N×H×W  the depth head's (on request);
         logits       float32 N×K×H/4×W/4  ensemble logits at stride 4 (on request);
         confidence   float32 N×H×W  the winning class's softmax probability, at the output stride (on request);
         overlay      uint8   N×H×W×3  the palette blended over rgb (on request), so a GPU runtime never
                      copies logits back to the host.
Everything the runtime needs (classes, palette, input contract, config) is in the model's metadata.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from amf_edge import __version__
from amf_edge.checkpoint import Checkpoint
from amf_edge.contract import HEAD_OUTPUTS, OUTPUTS, decode_metadata, default_outputs, encode_metadata
from amf_edge.convert.fold import fold
from amf_edge.convert.lint import check_tensorrt_parsable
from amf_edge.errors import AmfEdgeError
from amf_edge.files import replacing
from amf_edge.lazy import require_module
from amf_edge.models import DEFAULT_OUTPUT_STRIDE, labels_from_logits, scores_at_stride, to_input_size

OPSET = 18
OVERLAY_ALPHA = 0.5


class Deployable(nn.Module):
    """Sensor frames in, segmentation out: the whole inference path as one module (and one ONNX graph)."""

    def __init__(self, ckpt: Checkpoint, layout: str, outputs: tuple[str, ...], output_stride: int = 1):
        super().__init__()
        spec = ckpt.preprocess
        self.network = fold(ckpt.model, layout)
        self.outputs, self.bgr, self.stride = outputs, spec.channel_order == "BGR", output_stride
        self.register_buffer("mean", torch.tensor(spec.rgb_mean).view(1, 3, 1, 1) * 255)
        self.register_buffer("inv_std", 1 / (torch.tensor(spec.rgb_std).view(1, 3, 1, 1) * 255))
        self.depth_scale = 1.0 / spec.depth_divisor_m
        self.register_buffer("palette", torch.tensor(ckpt.labels.palette, dtype=torch.float32))

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = rgb.float().permute(0, 3, 1, 2)  # cast first: TensorRT has uint8 only at the network's edge
        if self.bgr:
            x = x.flip(1)
        x = (x - self.mean) * self.inv_std
        heads = self.network.forward_heads(x, depth.unsqueeze(1) * self.depth_scale)
        size = rgb.shape[1:3]
        logits = heads["ensemble"]
        scores = scores_at_stride(logits, size, self.stride)
        labels = to_input_size(scores.argmax(1, keepdim=True), size)
        results = {"labels": labels.to(torch.uint8), "logits": logits}
        for name, head in HEAD_OUTPUTS.items():
            if name in self.outputs:
                results[name] = labels_from_logits(heads[head], size, self.stride).to(torch.uint8)
        if "confidence" in self.outputs:
            # TopK, not ReduceMax: ONNX Runtime's quantizer cannot infer the shape of an opset-18 ReduceMax, which
            # the upsampling after it at output strides 2 and 4 needs
            results["confidence"] = to_input_size(torch.softmax(scores, dim=1).topk(1, dim=1).values, size)
        if "overlay" in self.outputs:
            colours = self.palette[labels]  # N×H×W×3 in RGB
            if self.bgr:
                colours = colours.flip(-1)
            blended = (1 - OVERLAY_ALPHA) * rgb.float() + OVERLAY_ALPHA * colours
            results["overlay"] = (blended + 0.5).clamp(0, 255).to(torch.uint8)
        return tuple(results[name] for name in self.outputs)


def parse_outputs(text: str | None, modalities: tuple[str, ...] = ("rgb", "depth")) -> tuple[str, ...]:
    """`--outputs` → output names in the graph's order; None: the default, labels (+ labels_rgb for RGB-D
    models, which the runtime's depth fallback needs)."""
    if text is None:
        return default_outputs(modalities)
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown or not names:
        raise AmfEdgeError(f"--outputs {text!r}: expected a comma-separated subset of {', '.join(OUTPUTS)}")
    absent = [n for n in names if n in HEAD_OUTPUTS and HEAD_OUTPUTS[n] not in modalities]
    if absent:
        raise AmfEdgeError(f"--outputs {text!r}: this model has only the {', '.join(modalities)} head(s), so it has no "
                           f"{', '.join(absent)}; leave {'it' if len(absent) == 1 else 'them'} out")
    if "labels" not in names:
        names = ("labels", *names)  # every artifact carries labels: the runtime's contract
    return tuple(n for n in OUTPUTS if n in names)


def metadata(ckpt: Checkpoint, ckpt_sha256: str, height: int | str, width: int | str, layout: str,
             outputs: tuple[str, ...], output_stride: int = 1) -> dict[str, str]:
    onnx = require_module("onnx")
    spec = ckpt.preprocess
    contract = {
        "rgb": {"dtype": "uint8", "shape": ["N", height, width, 3], "channel_order": spec.channel_order},
        "depth": {"dtype": "float32", "shape": ["N", height, width], "unit": "metre", "invalid": 0.0},
        "outputs": list(outputs),
        # labels, per-head labels and confidence: argmax at this stride of the input, repeated to its size
        "output_stride": output_stride,
        "preprocess": spec.to_dict(),
    }
    # how much of training had depth removed (train/data.py: DepthDropout): whether the RGB head copes alone
    dropout = ckpt.meta.get("train_config", {}).get("data", {}).get("depth_dropout")
    values = {
        "preset": ckpt.meta.get("preset", ""),
        "model_config": ckpt.config.to_dict(),
        "labels": ckpt.labels.to_dict(),
        "input_contract": contract,
        "layout": layout,
        "precision": "fp32",
        "checkpoint_sha256": ckpt_sha256,
        "depth_dropout": dropout,
        "versions": {"amf_edge": __version__, "torch": str(torch.__version__), "onnx": onnx.__version__,
                     "opset": OPSET},
    }
    return encode_metadata(values)


def name_convs_by_module(model, modalities: tuple[str, ...]) -> None:
    """Name every Conv node after the model's module it computes (`encoder.layer3.1.conv2`), so that the
    sensitivity report, `quantize --keep` and the lint speak of layers a user can find in the model.

    The exporter records each node's module scopes (metadata `pkg.torch.onnx.name_scopes`) in the folded
    network (convert/fold.py), whose stems and stages are the encoder's conv1 and layer1..4. A module run once
    per modality (split layout, the shared decoder) gets the modality as a suffix: `decoder.classifier[depth]`.
    """
    import ast

    paths = {}
    for node in model.graph.node:
        scopes = next((ast.literal_eval(p.value) for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"),
                      None)
        if node.op_type == "Conv" and scopes and len(scopes) >= 2:
            paths.setdefault(_model_path(scopes[-2].removeprefix("network."), modalities), []).append(node)
    for path, nodes in paths.items():
        for i, node in enumerate(nodes):
            # the split layout keeps one weight per modality (FoldedConv's ParameterList: `....weight.I`)
            index = node.input[1].rpartition(".weight.")[2]
            suffix = modalities[int(index)] if index.isdigit() and int(index) < len(modalities) else str(i)
            node.name = path if len(nodes) == 1 else f"{path}[{suffix}]"


def _shapes_from_casts(model) -> None:
    """A dynamic export reads N, H and W with Shape nodes on the uint8 `rgb` input; TensorRT has uint8 only for
    network I/O that a Cast consumes (Shape does not take UINT8), so read the shape off that Cast's output."""
    uint8_inputs = {i.name for i in model.graph.input if i.type.tensor_type.elem_type == 2}  # TensorProto.UINT8
    casts = {n.input[0]: n.output[0] for n in model.graph.node if n.op_type == "Cast" and n.input[0] in uint8_inputs}
    for node in model.graph.node:
        if node.op_type == "Shape" and node.input[0] in casts:
            node.input[0] = casts[node.input[0]]


def _model_path(folded: str, modalities: tuple[str, ...]) -> str:
    """convert/fold.py's module path → the model's: stems.I is encoder.conv1 of modality I, stages.S is
    encoder.layer{S+1}; the decoder keeps its names."""
    parts = folded.split(".")
    if parts[0] == "stems" and len(parts) > 1 and parts[1].isdigit():
        return f"encoder.conv1[{modalities[int(parts[1])]}]"
    if parts[0] == "stages" and len(parts) > 1 and parts[1].isdigit():
        return ".".join(["encoder", f"layer{int(parts[1]) + 1}", *parts[2:]])
    return folded


def export_onnx(ckpt: Checkpoint, ckpt_sha256: str, out: str | Path, *, height: int, width: int,
                layout: str = "grouped", outputs: tuple[str, ...] | None = None, dynamic: bool = False,
                output_stride: int = DEFAULT_OUTPUT_STRIDE) -> Path:
    """Write a single-file ONNX model (opset 18) and attach the metadata.

    Static by default (N=1, H×W fixed: what TensorRT builds fastest and the runtime expects); `dynamic`
    makes N, H and W symbolic (`height`×`width` is then only the size traced and checked). `output_stride`:
    where the argmax happens (amf_edge.models.OUTPUT_STRIDES). `outputs` None: parse_outputs' default.
    """
    # the default, or the names checked against the model's heads (a head it lacks is an error)
    outputs = parse_outputs(None if outputs is None else ",".join(outputs), ckpt.config.modalities)
    onnx = require_module("onnx", "ONNX export")
    require_module("onnxscript", "torch's ONNX exporter")
    onnxslim = require_module("onnxslim", "ONNX graph cleanup")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    module = Deployable(ckpt, layout, outputs, output_stride).eval()
    batch = 2 if dynamic else 1  # the exporter specialises a traced size of 1 to a constant
    rgb = torch.zeros(batch, height, width, 3, dtype=torch.uint8)
    depth = torch.zeros(batch, height, width, dtype=torch.float32)
    shapes = None
    if dynamic:  # named dims tie rgb and depth together, so the graph says they share N, H and W
        n, h, w = torch.export.Dim("N", min=1, max=64), torch.export.Dim("H", min=64), torch.export.Dim("W", min=64)
        shapes = {"rgb": {0: n, 1: h, 2: w}, "depth": {0: n, 1: h, 2: w}}
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(module, (rgb, depth), dynamo=True, opset_version=OPSET, external_data=False,
                                    input_names=["rgb", "depth"], output_names=list(outputs), verbose=False,
                                    dynamic_shapes=shapes)
    model = program.model_proto  # a new proto each time it is read
    name_convs_by_module(model, ckpt.config.modalities)
    _shapes_from_casts(model)
    # The exporter leaves chains of Slice/Concat from the pixel shift and channel shuffle; onnxslim folds
    # them (about a quarter of the nodes at r18) without touching the computation (parity checks it).
    model = onnxslim.slim(model)
    size = ("H", "W") if dynamic else (height, width)
    for key, value in metadata(ckpt, ckpt_sha256, *size, layout, outputs, output_stride).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    check_tensorrt_parsable(model, out)
    with replacing(out, "ONNX model") as tmp:
        onnx.save(model, str(tmp))
    return out


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter logs that torchvision's ops are not registered and warns about its own internals:
    noise for a model that uses neither."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*will not be used, since it shares the same shape")
            yield
    finally:
        logger.setLevel(level)


def check_parity(ckpt: Checkpoint, onnx_path: str | Path, frames: list, *, atol: float = 1e-4) -> dict:
    """ONNX Runtime vs the unfolded PyTorch model on the same frames: label agreement and logit error.

    `frames` are RGBDSamples of the exported size. Raises AmfEdgeError when the exported graph computes
    something else (any label differs, or the logits differ by more than `atol`).
    """
    ort = require_module("onnxruntime", "checking the export")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    model, spec = ckpt.model.eval(), ckpt.preprocess
    stride = read_stride(session)
    agree, total, max_err = 0, 0, 0.0
    for sample in frames:
        # The camera frame in the model's declared channel order, fed identically to both sides.
        frame = np.ascontiguousarray(sample.rgb[..., ::-1] if spec.channel_order == "BGR" else sample.rgb)
        got = dict(zip(names, session.run(None, {"rgb": frame[None], "depth": sample.depth_m()[None]})))
        rgb, depth = (torch.from_numpy(a) for a in spec(frame, sample.depth_m()))
        with torch.no_grad():
            heads = model.forward_heads(rgb, depth)
            expected = {name: labels_from_logits(heads[HEAD_OUTPUTS.get(name, "ensemble")], sample.size, stride)
                        for name in ("labels", *HEAD_OUTPUTS) if name in got}
        logits = heads["ensemble"]
        for name, labels in expected.items():  # the ensemble's labels and every head's
            agree += int((got[name][0] == labels[0].numpy()).sum())
            total += labels[0].numel()
        if "logits" in got:
            max_err = max(max_err, float(np.abs(got["logits"] - logits.numpy()).max()))
    result = {"label_agreement": agree / total, "max_logit_error": max_err if "logits" in names else None,
              "frames": len(frames)}
    if agree != total or max_err > atol:
        raise AmfEdgeError(f"{onnx_path} does not reproduce the PyTorch model: {result}; this is a bug in the export, "
                           "please report it with the checkpoint")
    return result


def read_stride(session) -> int:
    """The output stride an ONNX Runtime session's model declares (1 for models exported before it existed)."""
    meta = session.get_modelmeta().custom_metadata_map
    return int(decode_metadata(meta).get("input_contract", {}).get("output_stride", 1))
