"""Channel-aligned fusion for the edge presets: the paper's split (g = C // 5) against boundaries on multiples of 8
(ModelConfig.fusion_align), trained on the synthetic ablation's budget and timed (issue 15).

    python -m experiments.fusion_align --out runs/fusion-align [--seeds 0 1] [--jobs 2]

Both variants train with experiments/ablation.py's recipe, data and seeds and are tested on its 200 held-out
scenes (official protocol); latency: asymfusion-r18 at 480×640 exported (FP32, grouped layout) with each split,
ONNX Runtime on this CPU, the models taking turns, medians. Writes OUT/results.json and OUT/results.md (the
tables in docs/results/fusion-align.md); finished runs are reused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from experiments.ablation import test_one, train_and_test

# the official split: g = C // 5; aligned: g on multiples of 8 (amf_edge.models.fusion.split_channels)
VARIANTS = {"official split": ["model.fusion_align=1"], "aligned to 8": ["model.fusion_align=8"]}


def latency(work: Path, height: int, width: int, iters: int, rounds: int) -> dict[str, float]:
    """Median ms of ONNX Runtime FP32 per variant (untrained weights: latency does not depend on them)."""
    import torch

    from amf_edge import load_checkpoint
    from amf_edge.checkpoint import save_checkpoint
    from amf_edge.convert.export import export_onnx
    from amf_edge.labels import get_labels
    from amf_edge.models import build_model
    from amf_edge.preprocess import PreprocessSpec
    from experiments.output_stride import time_models

    labels, paths = get_labels("nyudv2"), {}
    for variant, (override,) in VARIANTS.items():
        align = int(override.rpartition("=")[2])
        path = work / f"r18-align{align}-{height}x{width}.onnx"
        if not path.exists():
            torch.manual_seed(0)
            pt = work / f"r18-align{align}.pt"
            save_checkpoint(pt, build_model("asymfusion-r18", num_classes=labels.num_classes, fusion_align=align),
                            labels=labels, preprocess=PreprocessSpec(), meta={"preset": "asymfusion-r18"})
            export_onnx(load_checkpoint(pt), "0" * 64, path, height=height, width=width, outputs=("labels",))
        paths[variant] = path
    return time_models(paths, iters, rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/fusion-align"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--jobs", type=int, default=2, help="training runs in parallel (default: 2)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = train_and_test(args.out, VARIANTS, args.seeds, args.jobs, test_one)
    times = latency(args.out, 480, 640, iters=40, rounds=4)
    (args.out / "results.json").write_text(json.dumps({"results": results, "latency_ms": times}, indent=1))
    lines = ["| split | ensemble mIoU (%) | rgb head | depth head | ORT FP32 480×640 (ms, median) |",
             "|---|---|---|---|---|"]
    for variant, per_seed in results.items():
        cells = []
        for head in ("ensemble", "rgb", "depth"):
            values = [100 * r[head] for r in per_seed.values()]
            cells.append(f"{np.mean(values):.2f}" + (f" ± {np.std(values, ddof=1):.2f}" if len(values) > 1 else ""))
        lines.append(f"| {variant} | " + " | ".join(cells) + f" | {times[variant]:.1f} |")
    table = "\n".join(lines)
    (args.out / "results.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
