"""Train AsymFusion on RGB-D data; evaluates on the validation split and keeps the best checkpoint.

A recipe (train/configs/*.yaml) sets everything; `section.key=value` overrides change single values.
Outputs in --out: config.yaml (the resolved recipe), best.pt (best ensemble mIoU on the validation
split), last.pt (resumable with --resume), metrics.csv and tensorboard/.

Data URIs: synthetic://?seed=S&n=N&height=H&width=W, nyudv2://PATH, sunrgbd://PATH, folder://PATH.
Several processes: torchrun --nproc_per_node N -m amf_edge.cli.main train ... (gloo on the CPU, NCCL on GPUs);
data.batch_size is per process (N processes: N times the batch) and the learning rates are not scaled.

examples:
  amf-edge train --config synthetic-r18 --out runs/r18
  amf-edge train --config train/configs/nyudv2-r101.yaml --data nyudv2:///data/nyudv2 model.pretrained=resnet101.pth
  amf-edge train --config train/configs/synthetic-r18.yaml model.fusion=none optim.stages.0.epochs=2
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train a model (recipes in train/configs/)"
EXTRAS = "train"  # pip install "amf-edge[train]" brings what this command needs


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="recipe: a YAML file or a name in train/configs/, e.g. synthetic-r18")
    parser.add_argument("--data", metavar="URI", help="training data; overrides data.train")
    parser.add_argument("--out", type=Path, help="output folder (default: runs/<recipe name>)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. data.batch_size=4")


def run(args: argparse.Namespace) -> int:
    from amf_edge.errors import AmfEdgeError
    from amf_edge.files import check_output
    from amf_edge.train.config import load_config
    from amf_edge.train.loop import train

    overrides = list(args.overrides) + ([f"data.train={args.data}"] if args.data else [])
    config = load_config(args.config, overrides)
    out = args.out or Path("runs") / (Path(args.config).stem if args.config else "default")
    check_output(out, "--out", folder=True)  # before the first epoch, not at the first checkpoint
    if (out / "last.pt").exists() and not args.resume:
        raise AmfEdgeError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if args.resume and not (out / "last.pt").exists():
        raise AmfEdgeError(f"nothing to resume: {out / 'last.pt'} does not exist")
    best = train(config, out, resume=args.resume, progress=not args.no_progress)
    if best["epoch"] is not None:
        print(f"best ensemble mIoU {100 * best['miou']:.2f} at epoch {best['epoch']}: {out / 'best.pt'}")
    return 0
