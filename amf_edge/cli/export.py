"""Export a checkpoint to ONNX: sensor-level inputs (uint8 rgb N×H×W×3, float32 depth in metres N×H×W),
preprocessing, the BN-folded network, upsampling and argmax inside one graph (opset 18, one file).

Every export is checked: onnx.checker, then ONNX Runtime against the PyTorch model on synthetic frames
of the export size, one of them without depth (every label equal, logits within 1e-4). The metadata carries
the classes, palette, input contract, model config and the checkpoint's sha256.

examples:
  amf-edge export runs/r18/best.pt -o r18.onnx --height 240 --width 320
  amf-edge export runs/r18/best.pt -o r18.onnx --layout batched --outputs labels,confidence,overlay
  amf-edge export runs/r18/best.pt -o r18-dynamic.onnx --dynamic
"""

from __future__ import annotations

import argparse
from pathlib import Path

from amf_edge.arguments import positive_size

HELP = "export a checkpoint to ONNX (FP32), checked against PyTorch"
EXTRAS = "convert"  # pip install "amf-edge[convert]" brings what this command needs
DEFAULT_OUTPUT_STRIDE = 4  # amf_edge.models' (which imports torch: not at --help time); a test ties them


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, metavar="CKPT", help="amf-edge checkpoint (.pt)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL.onnx")
    parser.add_argument("--height", type=positive_size, default=480, help="input height (default: 480)")
    parser.add_argument("--width", type=positive_size, default=640, help="input width (default: 640)")
    parser.add_argument("--layout", default="grouped", choices=("split", "batched", "grouped"),
                        help="how the modalities flow through the folded encoder (default: grouped)")
    parser.add_argument("--outputs", default=None, metavar="NAMES",
                        help="comma-separated: labels, labels_rgb, labels_depth, logits, confidence, overlay "
                             "(default: labels,labels_rgb for RGB-D models: the runtime's depth fallback uses the "
                             "RGB head's labels)")
    parser.add_argument("--output-stride", type=int, default=DEFAULT_OUTPUT_STRIDE, choices=(1, 2, 4),
                        help="take the argmax at 1 (the input size), 2 or 4 (the network's own) times below the "
                             "input, then repeat the labels to the input size: 4 skips upsampling every class map "
                             f"(docs/benchmarks.md) (default: {DEFAULT_OUTPUT_STRIDE})")
    parser.add_argument("--dynamic", action="store_true",
                        help="symbolic batch, height and width (N ≤ 64, H and W ≥ 64); --height/--width are then "
                             "the size traced and checked. Static shapes build the fastest TensorRT engines")
    parser.add_argument("--check-frames", type=int, default=4, metavar="N",
                        help="synthetic frames for the parity check (default: 4)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from amf_edge import load_checkpoint
    from amf_edge.convert.export import check_parity, export_onnx, parse_outputs
    from amf_edge.depth_holes import remove_depth
    from amf_edge.errors import AmfEdgeError
    from amf_edge.files import check_output, file_sha256
    from amf_edge.synthetic import SyntheticScenes

    if args.outputs is not None:
        parse_outputs(args.outputs)  # a misspelt name fails before the checkpoint loads
    if args.check_frames < 1:
        raise AmfEdgeError(f"--check-frames must be at least 1, got {args.check_frames}: every export is checked")
    check_output(args.output, "-o/--output")  # before the minute of export and parity checks, not after
    ckpt = load_checkpoint(args.checkpoint)
    outputs = parse_outputs(args.outputs, ckpt.config.modalities)
    path = export_onnx(ckpt, file_sha256(args.checkpoint), args.output, height=args.height, width=args.width,
                       layout=args.layout, outputs=outputs, dynamic=args.dynamic, output_stride=args.output_stride)
    frames = list(SyntheticScenes(seed=12345, n=args.check_frames, height=args.height, width=args.width))
    # and a frame whose depth failed: what the depth gate (ModelConfig.depth_gate) and the fallback's head compute
    frames.append(remove_depth(frames[0], 1.0, np.random.default_rng(0)))
    parity = check_parity(ckpt, path, frames)
    err = "" if parity["max_logit_error"] is None else f", max logit error {parity['max_logit_error']:.1e}"
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {args.layout} layout, outputs {', '.join(outputs)}, "
          f"argmax at stride {args.output_stride}); "
          f"ONNX Runtime vs PyTorch on {parity['frames']} frames: "
          f"{100 * parity['label_agreement']:.2f}% labels equal{err}")
    return 0
