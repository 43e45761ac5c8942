"""Train an edge model on synthetic RGB-D scenes, evaluate it on held-out scenes, and segment new frames.

1. trains asymfusion-r18 with train/configs/synthetic-r18.yaml into OUT/train (a few minutes on
   2 CPU cores); a finished run there is reused, so run the demo again to see only the inference;
2. evaluates it on the recipe's held-out validation scenes (every head: rgb, depth, ensemble);
3. segments new synthetic frames (another seed) through the preprocessing contract and writes
   rgb | depth | ground truth | prediction pictures to OUT/frames/.

KEY=VALUE arguments override the training recipe (as for `amf-edge train`).

examples:
  amf-edge demo
  amf-edge demo --out /tmp/demo optim.stages.0.epochs=1
  amf-edge demo --checkpoint runs/r18/best.pt --frames 8
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from amf_edge.arguments import positive_size

HELP = "train an edge model on synthetic scenes, evaluate it and segment new frames"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default: demo-output)")
    parser.add_argument("--checkpoint", type=Path, help="segment with this checkpoint instead of training one")
    parser.add_argument("--frames", type=int, default=4, help="new synthetic frames to segment (default: 4)")
    parser.add_argument("--height", type=positive_size, default=240, help="frame height (default: 240)")
    parser.add_argument("--width", type=positive_size, default=320, help="frame width (default: 320)")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the new frames (default: 1000)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="training recipe overrides")


def run(args: argparse.Namespace) -> int:
    from amf_edge import load_checkpoint
    from amf_edge.errors import AmfEdgeError

    if args.frames < 1:
        raise AmfEdgeError(f"--frames must be at least 1, got {args.frames}")
    if args.checkpoint and args.overrides:
        raise AmfEdgeError("recipe overrides only apply when the demo trains; drop them or drop --checkpoint")
    path = args.checkpoint or _train(args.out / "train", args.overrides)
    ckpt = load_checkpoint(path)
    _segment(ckpt, args)
    return 0


def _train(out: Path, overrides: list[str]) -> Path:
    from amf_edge import load_checkpoint
    from amf_edge.datasets import open_dataset
    from amf_edge.errors import AmfEdgeError
    from train.config import dump_config, load_config
    from train.evaluate import evaluate, format_scores
    from train.loop import train

    config = load_config("synthetic-r18", overrides)
    best = out / "best.pt"
    if best.exists() and (out / "config.yaml").read_text() == dump_config(config):
        print(f"using the model trained earlier in {out} (delete the folder to train again)")
    else:
        if (out / "last.pt").exists():
            raise AmfEdgeError(f"{out} holds a demo run with another recipe; delete it or pass another --out")
        print(f"training asymfusion-r18 on synthetic scenes for {config.epochs} epochs (a few minutes on 2 CPU cores)")
        start = time.perf_counter()
        train(config, out)
        print(f"trained in {(time.perf_counter() - start) / 60:.1f} min")
    ckpt = load_checkpoint(best)
    val = open_dataset(config.data.val or config.data.train, "val")
    print(f"held-out validation scenes ({len(val)}):\n" + format_scores(evaluate(ckpt.model, val, ckpt.preprocess)))
    return best


def _segment(ckpt, args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from amf_edge.models import upsample_logits
    from amf_edge.synthetic import SyntheticScenes
    from amf_edge.visualize import colorize_depth, mosaic, overlay, save_image

    labels, model = ckpt.labels, ckpt.model
    frames_dir = args.out / "frames"
    print(f"segmenting {args.frames} new synthetic frames of {args.height}×{args.width} with {ckpt.config.backbone} "
          f"({sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, PyTorch on the CPU)")
    timings, correct, total = [], 0, 0
    for i, sample in enumerate(SyntheticScenes(seed=args.seed, n=args.frames, height=args.height, width=args.width)):
        start = time.perf_counter()
        rgb, depth = (torch.from_numpy(a) for a in ckpt.preprocess(sample.rgb, sample.depth_m()))
        with torch.inference_mode():
            logits = upsample_logits(model(rgb, depth), sample.size)
        prediction = logits.argmax(1)[0].to(torch.uint8).numpy()
        timings.append(time.perf_counter() - start)
        valid = sample.label < labels.num_classes
        correct += int((prediction[valid] == sample.label[valid]).sum())
        total += int(valid.sum())
        picture = mosaic(sample.rgb, colorize_depth(sample.depth_m()), labels.colorize(sample.label), overlay(sample.rgb, prediction, labels))
        save_image(frames_dir / f"frame_{i:03d}.png", picture)
    print(f"median {np.median(timings) * 1e3:.1f} ms per frame (preprocess + model + upsample + argmax, "
          f"{torch.get_num_threads()} threads); pixel accuracy {correct / max(total, 1):.1%} on these frames; "
          f"pictures (rgb | depth | truth | prediction) in {frames_dir}/")
