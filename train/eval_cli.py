"""Evaluate a checkpoint: confusion matrix, pixel accuracy, mean accuracy, mIoU and per-class IoU
for each head (rgb, depth, ensemble), in JSON, plus coloured prediction pictures.

Protocols: "official" (full resolution, bicubic upsampling of the logits with OpenCV, as the
official AsymFusion evaluation) and "fast" (bilinear upsampling on the model's device).

example:
  amf-edge eval runs/r18/best.pt --data "synthetic://?seed=7&n=50" --split val --out runs/r18/eval
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "evaluate a checkpoint on a dataset"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", type=Path, help="amf-edge checkpoint (.pt)")
    parser.add_argument("--data", required=True, metavar="URI", help="dataset URI")
    parser.add_argument("--split", default="val", choices=("train", "val"), help="dataset split (default: val)")
    parser.add_argument("--protocol", default="official", choices=("official", "fast"), help="default: official")
    parser.add_argument("--out", type=Path, help="folder for metrics.json and pictures")
    parser.add_argument("--save-images", type=int, default=8, metavar="N", help="pictures to write with --out (default: 8)")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N images")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def run(args: argparse.Namespace) -> int:
    import json

    import torch

    from amf_edge import load_checkpoint
    from amf_edge.datasets import open_dataset
    from amf_edge.errors import AmfEdgeError
    from train.evaluate import evaluate, format_scores

    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    ckpt = load_checkpoint(args.model, map_location=device)
    dataset = open_dataset(args.data, args.split)
    if dataset.labels.num_classes != ckpt.labels.num_classes:
        raise AmfEdgeError(f"the model predicts {ckpt.labels.num_classes} classes ({ckpt.labels.name}) but {args.data} "
                           f"has {dataset.labels.num_classes} ({dataset.labels.name}); evaluate on data with the model's classes")
    save = _picture_writer(args.out / "images", ckpt.labels, args.save_images) if args.out else None
    result = evaluate(ckpt.model, dataset, ckpt.preprocess, protocol=args.protocol, device=device,
                      limit=args.limit, progress=True, on_prediction=save)
    result = {"model": str(args.model), "data": args.data, "split": args.split, "classes": list(ckpt.labels.names), **result}
    print(format_scores(result))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "metrics.json").write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out / 'metrics.json'}")
    return 0


def _picture_writer(folder: Path, labels, count: int):
    """Writes rgb | ground truth | ensemble prediction for the first `count` images."""
    from amf_edge.visualize import mosaic, overlay, save_image


    def save(i, sample, predictions):
        if i < count:
            picture = mosaic(sample.rgb, labels.colorize(sample.label), overlay(sample.rgb, predictions["ensemble"], labels))
            save_image(folder / f"{i:04d}.png", picture)

    return save
