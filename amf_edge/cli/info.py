"""Size, cost and fusion positions of a model preset, without building its weights.

Parameters are counted for the shared encoder (the paper) and for the same network with separate
encoders; FLOPs are those of one RGB-D frame at --height × --width (convolutions and matrix
products, counted by PyTorch's FlopCounterMode; 1 MAC = 2 FLOPs).

examples:
  amf-edge info asymfusion-r101 --classes 40
  amf-edge info asymfusion-r18 --classes 40 --height 240 --width 320 --json
  amf-edge info asymfusion-r50 --classes 40 --fusion none
"""

from __future__ import annotations

import argparse
import json

from amf_edge.arguments import add_model_args, model_config_from_args, positive_size

HELP = "show parameters, GFLOPs and fusion positions of a preset"
EXTRAS = "train"  # pip install "amf-edge[train]" brings what this command needs


def add_args(parser: argparse.ArgumentParser) -> None:
    add_model_args(parser, preset_positional=True)
    parser.add_argument("--height", type=positive_size, default=480, help="input height (default: 480)")
    parser.add_argument("--width", type=positive_size, default=640, help="input width (default: 640)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from amf_edge.errors import AmfEdgeError

    if Path(args.preset).exists() or Path(args.preset).suffix in (".onnx", ".engine", ".pt"):
        # before torch is needed: `inspect` works on an edge install too
        raise AmfEdgeError(f"{args.preset} is a file, and `info` describes presets (asymfusion-r18, ...); "
                           f"what a model file holds: amf-edge inspect {args.preset}")
    from amf_edge.models.profile import profile

    result = profile(model_config_from_args(args), args.height, args.width).to_dict()
    result = {"preset": args.preset, **result}
    print(json.dumps(result, indent=2) if args.json else format_text(result))
    return 0


def format_text(r: dict) -> str:
    p, pm, c = r["params"], r["params_m"], r["config"]
    lines = [
        f"{r['preset']}: {c['backbone']} encoder ({c['encoder']} convs, {c['batchnorm']} BN), {c['decoder']} decoder, "
        f"{c['num_classes']} classes, fusion {c['fusion']}"
        + ("" if len(c["modalities"]) > 1 else f", {c['modalities'][0]} only"),
        f"parameters      {pm['total']:.2f} M  (encoder convs {pm['encoder_conv']:.2f} M, "
        f"encoder BN {pm['encoder_bn']:.3f} M, decoder {pm['decoder']:.2f} M, ensemble {p['ensemble']})",
    ]
    if "total_with_separate_encoders" in pm:
        lines.append(f"  with separate encoders: {pm['total_with_separate_encoders']:.2f} M")
    lines += [
        f"input           {r['input']['height']}×{r['input']['width']} rgb + depth → "
        f"logits {r['output']['height']}×{r['output']['width']} (stride 4)",
        f"compute         {r['gflops']:.2f} GFLOPs ({r['gmacs']:.2f} GMACs) per frame",
        "fusion          " + (", ".join(
            f"{f['block']} (C={f['channels']}, tail [{f['tail'][0]}, {f['tail'][1]}))" for f in r["fusion"]
        ) or "none"),
    ]
    return "\n".join(lines)
