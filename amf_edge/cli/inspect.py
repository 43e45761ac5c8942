"""Show what a model file or calibration set is, without running it: the input contract (sizes, channel
order, depth units), outputs, preset and model config, precision and quantization, provenance hashes and
tool versions; for engines also the TensorRT version, the GPU, the build options and the check result
(`amf-edge build --check`); for calibration sets the source, licence, frames and content hash.

examples:
  amf-edge inspect r18.onnx
  amf-edge inspect r18.engine --json
  amf-edge inspect runs/r18/best.pt
  amf-edge inspect calib_data/synthetic-240x320
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = "show what an .onnx, .engine, .pt or calibration set is (contract, precision, provenance)"
EXTRAS = "runtime"  # pip install "amf-edge[runtime]"; .pt checkpoints also need torch ([train])


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="FILE", help=".onnx, .engine (+ .json), .pt or calib_data/NAME")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")


def run(args: argparse.Namespace) -> int:
    from amf_edge.cli.main import broken_model_metadata
    from amf_edge.inspection import describe

    with broken_model_metadata(args.path):
        info = describe(args.path)
    print(json.dumps(info, indent=1, ensure_ascii=False) if args.json else format_text(info))
    return 0


def format_text(d: dict[str, Any]) -> str:
    lines = [f"{d['file']}: {d['kind']}"]
    if d["kind"] == "calibration set":
        lines += [f"  name        {d['name']}, {d['frames']} frames of {', '.join(d['sizes'])}",
                  f"  source      {d['source']}", f"  licence     {d['licence']}",
                  f"  depth unit  {d['depth_unit_m']} m per count; preprocess version {d['preprocess_version']}",
                  f"  content     sha256 {d['content_sha256']}"]
        return "\n".join(lines)
    if d["kind"] == "checkpoint":
        resumable = " (resumable: holds the training state)" if d["resumable"] else ""
        lines += [f"  preset      {_preset(d)}",
                  f"  classes     {d['classes']}: {', '.join(d['class_names'] or [])}",
                  f"  parameters  {d['parameters'] / 1e6:.2f} M{resumable}",
                  f"  sha256      {d['sha256']}", f"  meta        {json.dumps(d['meta'])}"]
        return "\n".join(lines)
    c = d["contract"]
    lines += [
        f"  preset      {_preset(d)}, layout {d.get('layout')}",
        f"  inputs      rgb {c['rgb']['dtype']} {_shape(c['rgb']['shape'])} {c['rgb']['channel_order']}; depth "
        f"{c['depth']['dtype']} {_shape(c['depth']['shape'])} in {c['depth']['unit']}s, {c['depth']['invalid']} = none",
        f"  outputs     {', '.join(c['outputs'] or [])}",
        f"  classes     {c['classes']}: {', '.join(c['class_names'] or [])}",
        f"  precision   {d['precision']}" + _quantization(d.get("quantization")),
        f"  sha256      {d['sha256']}" + ("" if d.get("sha256_matches_sidecar", True) else
                                          "  (NOT the engine its sidecar describes: rebuild it)"),
        "  provenance  " + ", ".join(f"{k} {v[:16]}…" for k, v in d["provenance"].items() if v),
        f"  versions    {json.dumps(d.get('versions'))}",
    ]
    if d["kind"] == "onnx":
        g = d["graph"]
        lines.append(f"  graph       {g['nodes']} nodes, {g['convs']} Conv, {g['quantize_nodes']} QuantizeLinear; "
                     f"opsets {json.dumps(g['opsets'])}")
    else:
        gpu = d["gpu"]
        options = {k: v for k, v in d["build_options"].items() if v is not None and v is not False}  # DLA core 0 counts
        lines += [f"  tensorrt    {d['tensorrt']} on {gpu['name']} (compute capability {gpu['compute_capability']})",
                  f"  built from  {d['onnx'].get('path')} ({d['onnx'].get('precision')}, sha256 "
                  f"{str(d['onnx'].get('sha256'))[:16]}…); {d['layers']} layers after fusion",
                  f"  options     {json.dumps(options) if options else 'defaults'}",
                  f"  check       {_check(d.get('check'))}"]
    return "\n".join(lines)


def _preset(d: dict[str, Any]) -> str:
    config = d.get("config")
    if not config:
        return str(d.get("preset"))
    return (f"{d.get('preset')}: {config.get('backbone')} encoder, {config.get('decoder')} decoder, "
            f"fusion {config.get('fusion')}")


def _shape(shape) -> str:
    return "×".join(str(s) for s in shape or [])


def _quantization(q) -> str:
    if not q:
        return ""
    calibration = q.get("calibration") or {}
    keep = q.get("keep") or []
    return (f", {q.get('quantizer', 'ort')} {q.get('method')} calibration on {calibration.get('set', '?')} "
            f"({calibration.get('frames', '?')} frames)" + (f", kept in float: {', '.join(keep)}" if keep else ""))


def _check(check) -> str:
    if not check:
        return "never checked (amf-edge build --check, or amf-edge check ENGINE)"
    return (f"against {check.get('against')} on {check.get('frames')} frames: {check.get('label_agreement', 0):.1f} % "
            f"labels equal, {'passed' if check.get('passed') else 'FAILED'}")
