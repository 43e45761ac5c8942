"""Evaluate a checkpoint or an exported ONNX model: confusion matrix, pixel accuracy, mean accuracy,
mIoU and per-class IoU, in JSON, plus coloured prediction pictures.

A checkpoint is scored per head (rgb, depth, ensemble) in PyTorch. An ONNX file (any precision from
`amf-edge export` / `amf-edge quantize`) runs in ONNX Runtime on the CPU and is scored on its ensemble
labels: frames are resized to a static model's input size and its labels back to the data's size.

Protocols: "official" (full resolution, bicubic upsampling of the logits with OpenCV, as the
official AsymFusion evaluation) and "fast" (bilinear upsampling on the model's device).

examples:
  amf-edge eval runs/r18/best.pt --data "synthetic://?seed=7&n=50" --split val --out runs/r18/eval
  amf-edge eval r18.int8.onnx --data "synthetic://?seed=7&n=50&height=240&width=320" --split val
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "evaluate a checkpoint or an ONNX model on a dataset"
EXTRAS = "train,runtime"  # pip install "amf-edge[train,runtime]" brings what this command needs


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", type=Path, help="amf-edge checkpoint (.pt) or exported model (.onnx)")
    parser.add_argument("--data", required=True, metavar="URI", help="dataset URI")
    parser.add_argument("--split", default="val", choices=("train", "val"), help="dataset split (default: val)")
    parser.add_argument("--protocol", default="official", choices=("official", "fast"),
                        help="for checkpoints (default: official); an ONNX model upsamples in its graph")
    parser.add_argument("--out", type=Path, help="folder for metrics.json and pictures")
    parser.add_argument("--save-images", type=int, default=8, metavar="N",
                        help="pictures to write with --out (default: 8)")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N images")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def run(args: argparse.Namespace) -> int:
    import json

    from amf_edge.datasets import open_dataset
    from amf_edge.errors import AmfEdgeError
    from amf_edge.train.evaluate import format_scores

    if args.limit is not None and args.limit < 1:
        raise AmfEdgeError(f"--limit must be at least 1, got {args.limit}")
    if args.save_images < 0:
        raise AmfEdgeError(f"--save-images must be 0 or more, got {args.save_images}")
    if args.out is not None:
        from amf_edge.files import check_output

        check_output(args.out, "--out", folder=True)  # before the scoring, not after it
    if not args.model.is_file():
        raise AmfEdgeError(f"model {args.model} does not exist" if not args.model.exists()
                           else f"model {args.model} is not a file")
    dataset = open_dataset(args.data, args.split)
    if args.model.suffix == ".onnx":
        result, labels = _evaluate_onnx(args, dataset)
    else:
        result, labels = _evaluate_checkpoint(args, dataset)
    result = {"model": str(args.model), "data": args.data, "split": args.split, "classes": list(labels.names), **result}
    print(format_scores(result))
    if args.out:
        from amf_edge.files import write_text_replacing

        args.out.mkdir(parents=True, exist_ok=True)
        write_text_replacing(args.out / "metrics.json", json.dumps(result, indent=1))
        print(f"wrote {args.out / 'metrics.json'}")
    return 0


def _evaluate_checkpoint(args, dataset):
    import torch

    from amf_edge import load_checkpoint
    from amf_edge.train.distributed import uses_cuda
    from amf_edge.train.evaluate import evaluate

    device = torch.device("cuda" if uses_cuda(args.device) else "cpu")
    ckpt = load_checkpoint(args.model, map_location=device)
    _check_classes(args, dataset, ckpt.labels)
    save = _picture_writer(args.out / "images", ckpt.labels, args.save_images) if args.out else None
    return evaluate(ckpt.model, dataset, ckpt.preprocess, protocol=args.protocol, device=device,
                    limit=args.limit, progress=True, on_prediction=save), ckpt.labels


def _evaluate_onnx(args, dataset):
    from amf_edge.cli.main import broken_model_metadata
    from amf_edge.errors import AmfEdgeError
    from amf_edge.lazy import require_module
    from amf_edge.metrics import score_predictions
    from amf_edge.onnxrt import OnnxPredictor

    state = require_module("onnxruntime", "evaluating ONNX models").capi.onnxruntime_pybind11_state
    try:
        with broken_model_metadata(args.model):
            predict = OnnxPredictor(args.model)
    except (state.InvalidProtobuf, state.InvalidGraph, state.Fail, state.NoSuchFile, state.InvalidArgument,
            state.NotImplemented) as e:  # truncated, corrupt, not ONNX at all
        raise AmfEdgeError(f"ONNX Runtime cannot load {args.model} ({str(e).strip()}); expected an ONNX model "
                           "written by `amf-edge export` or `amf-edge quantize`: export it again") from None
    labels = predict.contract.labels
    _check_classes(args, dataset, labels)
    save = _picture_writer(args.out / "images", labels, args.save_images) if args.out else None
    result = score_predictions(predict, dataset, labels.num_classes, limit=args.limit, progress="eval (onnx)",
                               on_prediction=save)
    return {"protocol": f"onnx ({predict.contract.precision})", **result}, labels


def _check_classes(args, dataset, labels) -> None:
    from amf_edge.errors import AmfEdgeError

    if dataset.labels.num_classes != labels.num_classes:
        raise AmfEdgeError(f"the model predicts {labels.num_classes} classes ({labels.name}) but {args.data} "
                           f"has {dataset.labels.num_classes} ({dataset.labels.name}); "
                           "evaluate on data with the model's classes")


def _picture_writer(folder: Path, labels, count: int):
    """Writes rgb | ground truth | ensemble prediction for the first `count` images."""
    from amf_edge.visualize import mosaic, overlay, save_image


    def save(i, sample, predictions):
        if i < count:
            picture = mosaic(sample.rgb, labels.colorize(sample.label),
                             overlay(sample.rgb, predictions["ensemble"], labels))
            save_image(folder / f"{i:04d}.png", picture)

    return save
