"""What a model file or calibration set is (`amf-edge inspect`): contract, config, precision, provenance.

`describe(path)` reads an exported .onnx (its graph's inputs and outputs and its amf-edge metadata), an
.engine bundle (its sidecar: TensorRT version, GPU, build options, the check result), an amf-edge .pt
checkpoint, or a calibration set folder (calib_data/NAME), and returns plain JSON-ready data. Nothing is
run. Torch-free except for checkpoints, which need torch to unpickle their tensors (loaded with
`weights_only=True`, so opening one never runs code from the file).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from amf_edge.errors import AmfEdgeError
from amf_edge.files import file_sha256
from amf_edge.lazy import require_module

KINDS = {".onnx": "onnx", ".engine": "engine", ".pt": "checkpoint"}


def describe(path: str | Path) -> dict[str, Any]:
    """Plain data about `path`; an AmfEdgeError for anything that is none of the four kinds."""
    path = Path(path)
    if path.is_dir():
        return _calibration_set(path)
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise AmfEdgeError(f"{path}: cannot tell what this is from its suffix {path.suffix or '(none)'!r}; expected "
                           "an .onnx model, an .engine bundle, a .pt checkpoint or a calibration set folder "
                           "(calib_data/NAME)")
    if not path.is_file():
        raise AmfEdgeError(f"{path}: no such file")
    return {"onnx": _onnx, "engine": _engine, "checkpoint": _checkpoint}[kind](path)


def load_onnx(path: Path):
    """onnx.load without external data; a file that is not an ONNX protobuf is an AmfEdgeError."""
    onnx = require_module("onnx", "reading ONNX models")
    from google.protobuf.message import DecodeError  # protobuf comes with onnx

    try:
        return onnx.load(str(path), load_external_data=False)
    except DecodeError:
        raise AmfEdgeError(f"{path} is not an ONNX model (its bytes do not parse as one); expected a file from "
                           "`amf-edge export` or `amf-edge quantize`") from None


def contract_of(meta: dict[str, Any]) -> dict[str, Any]:
    """The input contract and labels of amf-edge metadata, as a user reads them."""
    io = meta.get("input_contract", {})
    labels = meta.get("labels", {})
    return {
        "rgb": {"shape": io.get("rgb", {}).get("shape"), "dtype": io.get("rgb", {}).get("dtype"),
                "channel_order": io.get("rgb", {}).get("channel_order")},
        "depth": {"shape": io.get("depth", {}).get("shape"), "dtype": io.get("depth", {}).get("dtype"),
                  "unit": io.get("depth", {}).get("unit"), "invalid": io.get("depth", {}).get("invalid")},
        "outputs": io.get("outputs"),
        "preprocess": io.get("preprocess"),
        "classes": len(labels.get("names", [])),
        "class_names": labels.get("names"),
    }


def _model_fields(meta: dict[str, Any]) -> dict[str, Any]:
    return {"preset": meta.get("preset"), "config": meta.get("model_config"), "layout": meta.get("layout"),
            "precision": meta.get("precision", "fp32"), "quantization": meta.get("quantization"),
            "contract": contract_of(meta),
            "provenance": {"checkpoint_sha256": meta.get("checkpoint_sha256"),
                           "source_sha256": meta.get("source_sha256")},
            "versions": meta.get("versions")}


def _onnx(path: Path) -> dict[str, Any]:
    from amf_edge.contract import decode_metadata

    onnx = require_module("onnx", "reading ONNX models")
    model = load_onnx(path)
    meta = decode_metadata({p.key: p.value for p in model.metadata_props}, str(path))

    def io(values) -> list[dict[str, Any]]:
        out = []
        for v in values:
            t = v.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
            out.append({"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name,
                        "shape": shape})
        return out

    ops = Counter(n.op_type for n in model.graph.node)
    return {"kind": "onnx", "file": str(path), "bytes": path.stat().st_size, "sha256": file_sha256(path),
            **_model_fields(meta),
            "graph": {"inputs": io(model.graph.input), "outputs": io(model.graph.output),
                      "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
                      "nodes": len(model.graph.node), "convs": ops.get("Conv", 0),
                      "quantize_nodes": ops.get("QuantizeLinear", 0), "ops": dict(ops.most_common())}}


def _engine(path: Path) -> dict[str, Any]:
    from dataclasses import asdict

    from amf_edge.bundle import layers_path, read_bundle

    bundle = read_bundle(path)
    layers = None
    report = layers_path(path)
    if report.is_file():
        try:
            layers = len(json.loads(report.read_text()).get("Layers", []))
        except (ValueError, AttributeError):
            layers = None  # a damaged report says nothing about the engine itself
    actual = file_sha256(path)
    return {"kind": "engine", "file": str(path), "bytes": path.stat().st_size, "sha256": actual,
            "sha256_matches_sidecar": actual == bundle.engine_sha256, **_model_fields(bundle.metadata),
            "precision": bundle.precision, "tensorrt": bundle.tensorrt, "gpu": asdict(bundle.device),
            "build_options": bundle.options, "onnx": bundle.onnx, "tools": bundle.tools, "layers": layers,
            "check": bundle.check, "rebuild": bundle.rebuild_command()}


def _checkpoint(path: Path) -> dict[str, Any]:
    torch = require_module("torch", "reading .pt checkpoints")
    from amf_edge.checkpoint import FORMAT

    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a file that is not its format
        raise AmfEdgeError(f"{path} is not a PyTorch checkpoint torch can read safely ({type(e).__name__}); "
                           "expected a .pt from `amf-edge train` or `amf-edge import-reference`") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise AmfEdgeError(f"{path} is not an amf-edge checkpoint (no format {FORMAT!r}); convert an official "
                           "checkpoint with `amf-edge import-reference`")
    state = payload.get("state_dict", {})
    labels = payload.get("labels", {})
    meta = payload.get("meta", {})
    return {"kind": "checkpoint", "file": str(path), "bytes": path.stat().st_size, "sha256": file_sha256(path),
            "preset": meta.get("preset"), "config": payload.get("model_config"),
            "classes": len(labels.get("names", [])), "class_names": labels.get("names"),
            "preprocess": payload.get("preprocess"), "parameters": int(sum(v.numel() for v in state.values())),
            "resumable": "train_state" in payload, "meta": meta}


def _calibration_set(path: Path) -> dict[str, Any]:
    from amf_edge.calibset import CalibrationSet

    calib = CalibrationSet.open(path)  # checks the manifest and every frame's hash
    m = calib.manifest
    sizes = sorted({(f["height"], f["width"]) for f in m["frames"]})
    return {"kind": "calibration set", "file": str(path), "name": m["name"], "source": m["source"],
            "licence": m["licence"], "frames": len(calib), "sizes": [f"{h}×{w}" for h, w in sizes],
            "depth_unit_m": m["depth_unit"], "preprocess_version": m["preprocess_version"],
            "content_sha256": m["content_sha256"], "selection": m["selection"], "created": m["created"],
            "tool_version": m["tool_version"]}
