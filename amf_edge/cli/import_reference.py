"""Convert a checkpoint of the official AsymFusion code (github.com/yikaiw/AsymFusion) into an
amf-edge checkpoint, so a model trained with the official release can be exported and deployed.

Accepts the official `model-best.pth.tar` / `checkpoint.pth.tar` files (DataParallel state dict under
"segmenter") and bare state dicts. Every key and shape must match the preset; a mismatch is reported
with the preset or class count the file actually has. The converted model computes the official
forward pass (all three heads, eval mode) to within float rounding.

The preprocessing saved with it is the official NYUDv2 recipe: ImageNet-normalised RGB and depth
× 1/5000 of the raw PNG, i.e. metres / 5 for millimetre PNGs.

example:
  amf-edge import-reference model-best.pth.tar --preset asymfusion-r101 --classes 40 -o r101-nyudv2.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert a checkpoint of the official AsymFusion code into an amf-edge checkpoint"
EXTRAS = "train"  # pip install "amf-edge[train]" brings what this command needs


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("official", metavar="OFFICIAL.pth", help="checkpoint saved by the official code")
    parser.add_argument("--preset", required=True, help="asymfusion-r50, asymfusion-r101 or asymfusion-r152")
    parser.add_argument("--classes", type=int, required=True, metavar="N", help="number of classes the model predicts")
    parser.add_argument("--labels", metavar="NAME",
                        help="label set for class names and colours "
                             "(default: nyudv2 for 40 classes, numbered classes otherwise)")
    parser.add_argument("-o", "--output", required=True, metavar="CKPT", help="amf-edge checkpoint to write")


def run(args: argparse.Namespace) -> int:
    from amf_edge.checkpoint import save_checkpoint
    from amf_edge.files import check_output, file_sha256
    from amf_edge.interop import import_official_checkpoint
    from amf_edge.labels import LabelSet, get_labels
    from amf_edge.preprocess import PreprocessSpec

    check_output(args.output, "-o/--output")  # before the weights load and convert, not after
    labels = get_labels(args.labels) if args.labels else (
        get_labels("nyudv2") if args.classes == 40 else LabelSet.generic(args.classes)
    )
    model = import_official_checkpoint(args.official, args.preset, args.classes)
    meta = {
        "preset": args.preset,
        "source": {"kind": "official-asymfusion", "file": Path(args.official).name,
                   "sha256": file_sha256(args.official)},
    }
    out = save_checkpoint(args.output, model, labels=labels, preprocess=PreprocessSpec(), meta=meta)
    print(f"wrote {out}: {args.preset}, {args.classes} classes ({labels.name}), from {args.official}")
    return 0
