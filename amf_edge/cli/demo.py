"""Build an edge model and segment synthetic RGB-D frames, printing a summary.

The frames come from the procedural scene generator (amf_edge.synthetic), go through the shared
preprocessing contract and an asymfusion-r18 network in PyTorch, and come back as label maps at
input resolution. The network has random weights until `amf-edge train` exists, so its labels are
noise: this demo shows the pipeline and its timings, not accuracy. With --out it also writes
rgb | depth | ground truth | prediction pictures and the checkpoint it built.

example:
  amf-edge demo --frames 4 --height 240 --width 320 --out demo-output
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from amf_edge.cli.args import positive_size

HELP = "segment synthetic RGB-D frames with an edge model and print a summary"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="asymfusion-r18", help="model preset (default: asymfusion-r18)")
    parser.add_argument("--frames", type=int, default=4, help="synthetic frames to segment (default: 4)")
    parser.add_argument("--height", type=positive_size, default=240, help="frame height (default: 240)")
    parser.add_argument("--width", type=positive_size, default=320, help="frame width (default: 320)")
    parser.add_argument("--seed", type=int, default=0, help="scene and weight seed (default: 0)")
    parser.add_argument("--out", type=Path, help="folder for pictures and the checkpoint (default: none)")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from amf_edge.errors import AmfEdgeError
    from amf_edge.models import build_model, upsample_logits
    from amf_edge.preprocess import PreprocessSpec
    from amf_edge.synthetic import SyntheticScenes

    if args.frames < 1:
        raise AmfEdgeError(f"--frames must be at least 1, got {args.frames}")
    scenes = SyntheticScenes(seed=args.seed, n=args.frames, height=args.height, width=args.width)
    labels = scenes.labels
    torch.manual_seed(args.seed)
    model = build_model(args.preset, num_classes=labels.num_classes).eval()
    spec = PreprocessSpec()
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.preset}: {params / 1e6:.2f} M parameters, {labels.num_classes} classes ({labels.name}), "
          f"random weights; {args.frames} synthetic frames of {args.height}×{args.width}")

    timings, correct, total, predicted = [], 0, 0, np.zeros(labels.num_classes, np.int64)
    for i, sample in enumerate(scenes):
        rgb, depth = (torch.from_numpy(a) for a in spec(sample.rgb, sample.depth_m()))
        start = time.perf_counter()
        with torch.inference_mode():
            logits = upsample_logits(model(rgb, depth), sample.size)
        prediction = logits.argmax(1)[0].to(torch.uint8).numpy()
        timings.append(time.perf_counter() - start)
        valid = sample.label < labels.num_classes
        correct += int((prediction[valid] == sample.label[valid]).sum())
        total += int(valid.sum())
        predicted += np.bincount(prediction.ravel(), minlength=labels.num_classes)
        if args.out:
            _write_picture(args.out / f"frame_{i:03d}.png", sample, prediction, labels)
        print(f"  frame {i}: {timings[-1] * 1e3:7.1f} ms, invalid depth {np.mean(sample.depth == 0):5.1%}")

    top = ", ".join(f"{labels.names[c]} {predicted[c] / predicted.sum():.0%}" for c in np.argsort(-predicted)[:3])
    print(f"median latency {np.median(timings) * 1e3:.1f} ms (PyTorch eager, CPU, {torch.get_num_threads()} threads); "
          f"pixel accuracy {correct / max(total, 1):.1%} (untrained weights: not meaningful); most predicted: {top}")
    if args.out:
        from amf_edge.checkpoint import save_checkpoint

        ckpt = save_checkpoint(args.out / "model.pt", model, labels=labels, preprocess=spec, meta={"preset": args.preset})
        print(f"wrote {args.frames} pictures and {ckpt} to {args.out}/")
    return 0


def _write_picture(path: Path, sample, prediction, labels) -> None:
    from amf_edge.lazy import require_module
    from runtime.visualize import colorize_depth, mosaic, overlay

    cv2 = require_module("cv2", "opencv-python-headless")
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = mosaic(sample.rgb, colorize_depth(sample.depth_m()), labels.colorize(sample.label), overlay(sample.rgb, prediction, labels))
    if not cv2.imwrite(str(path), picture[..., ::-1]):
        from amf_edge.errors import AmfEdgeError

        raise AmfEdgeError(f"could not write {path}; check that the folder is writable")
