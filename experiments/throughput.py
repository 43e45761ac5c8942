"""Training throughput of the edge presets on this machine, for docs/benchmarks.md.

Times the optimisation step (forward of all heads, the three-head loss, backward, SGD step) on
in-memory synthetic batches, after warm-up, and reports the median over iterations. Data loading runs in
DataLoader workers beside the step in real training and is left out.

    python -m experiments.throughput [--presets asymfusion-r18 asymfusion-r34] [--sizes 240x320 480x640]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import torch

from amf_edge.models import build_model
from amf_edge.preprocess import PreprocessSpec
from amf_edge.synthetic import SyntheticScenes
from amf_edge.train.loop import Heads, segmentation_loss, set_train_mode


def batch(height: int, width: int, size: int):
    spec = PreprocessSpec()
    samples = list(SyntheticScenes(seed=0, n=size, height=height, width=width))
    rgb, depth = spec([s.rgb for s in samples], [s.depth_m() for s in samples])
    label = torch.stack([torch.from_numpy(s.label.astype("int64")) for s in samples])
    return torch.from_numpy(rgb), torch.from_numpy(depth), label


def measure(preset: str, height: int, width: int, batch_size: int, iters: int, warmup: int) -> list[float]:
    torch.manual_seed(0)
    model = build_model(preset, num_classes=11)
    set_train_mode(model, freeze_bn=False)
    net, optimizer = Heads(model), torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    rgb, depth, label = batch(height, width, batch_size)
    rates = []
    for i in range(warmup + iters):
        start = time.perf_counter()
        loss = segmentation_loss(net(rgb, depth), label)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i >= warmup:
            rates.append(batch_size / (time.perf_counter() - start))
    return rates


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["asymfusion-r18", "asymfusion-r34"])
    parser.add_argument("--sizes", nargs="+", default=["240x320", "480x640"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, batch {args.batch}, "
          f"median of {args.iters} steps after {args.warmup} warm-up")
    print("| preset | input | images/s (median) | min–max |\n|---|---|---|---|")
    for preset in args.presets:
        for size in args.sizes:
            h, w = (int(v) for v in size.split("x"))
            rates = measure(preset, h, w, args.batch, args.iters, args.warmup)
            print(f"| {preset} | {h}×{w} | {statistics.median(rates):.2f} | {min(rates):.2f}–{max(rates):.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
