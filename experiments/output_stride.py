"""Output stride: where the argmax happens, measured (docs/benchmarks.md, "Output stride"; issue 15).

    python -m experiments.output_stride [--checkpoint runs/precision-r18/best.pt] [--work runs/output-stride]

Accuracy: the trained checkpoint (the synthetic r18 of docs/results/precision.md, 120×160) exported at each
output stride with the default outputs, scored by ONNX Runtime on the ablation's 200 held-out test scenes at the
size it was trained at (the coarsest case: a stride-4 label is 4 pixels of a 160-pixel-wide frame).
Latency: asymfusion-r18 with NYUDv2's 40 classes (the post-processing's cost grows with them) at 480×640, FP32
and INT8-CPU, labels only and with the default labels_rgb, the models taking turns, medians (runtime session
settings). Rewrites the part of docs/benchmarks.md between the markers; the numbers stay in --work/results.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

from experiments.ablation import TEST_DATA

BEGIN, END = "<!-- bench:stride:begin -->", "<!-- bench:stride:end -->"
STRIDES = (1, 2, 4)
OUTPUTS = {"labels": ("labels",), "labels + labels_rgb": ("labels", "labels_rgb")}
CALIB = Path("calib_data/synthetic-240x320")


def accuracy(checkpoint: Path, work: Path) -> dict:
    """{stride: {head: test mIoU}} of the FP32 export."""
    from amf_edge import load_checkpoint
    from amf_edge.convert.export import export_onnx
    from amf_edge.datasets import open_dataset
    from amf_edge.files import file_sha256
    from amf_edge.metrics import score_predictions
    from amf_edge.onnxrt import OnnxPredictor

    ckpt, sha = load_checkpoint(checkpoint), file_sha256(checkpoint)
    test = open_dataset(TEST_DATA, "val")
    h, w = test[0].size
    found = {}
    for stride in STRIDES:
        path = work / f"trained-s{stride}.onnx"
        if not path.exists():
            export_onnx(ckpt, sha, path, height=h, width=w, output_stride=stride,
                        outputs=("labels", "labels_rgb"))
        scores = score_predictions(OnnxPredictor(path), test, ckpt.config.num_classes)
        found[stride] = {head: s["miou"] for head, s in scores["heads"].items()}
        print(f"stride {stride}: {json.dumps(found[stride])}", flush=True)
    return found


def latency_models(work: Path, height: int, width: int) -> dict[str, Path]:
    """{"fp32/4/labels": path, ...}: an untrained r18 (latency does not depend on the weights' values)."""
    import torch

    from amf_edge import load_checkpoint
    from amf_edge.calibset import CalibrationSet
    from amf_edge.checkpoint import save_checkpoint
    from amf_edge.convert.export import export_onnx
    from amf_edge.convert.quantize import QuantizeOptions, make_variant
    from amf_edge.files import file_sha256
    from amf_edge.labels import get_labels
    from amf_edge.models import build_model
    from amf_edge.preprocess import PreprocessSpec

    ckpt_path = work / "r18-nyudv2-untrained.pt"
    labels = get_labels("nyudv2")
    if not ckpt_path.exists():
        torch.manual_seed(0)
        save_checkpoint(ckpt_path, build_model("asymfusion-r18", num_classes=labels.num_classes), labels=labels,
                        preprocess=PreprocessSpec(), meta={"preset": "asymfusion-r18", "note": "untrained, latency"})
    ckpt, sha = load_checkpoint(ckpt_path), file_sha256(ckpt_path)
    paths = {}
    for stride in STRIDES:
        for name, outputs in OUTPUTS.items():
            tag = "+rgb" if len(outputs) > 1 else ""
            fp32 = work / f"fp32-s{stride}{tag}-{height}x{width}.onnx"
            if not fp32.exists():
                export_onnx(ckpt, sha, fp32, height=height, width=width, output_stride=stride, outputs=outputs)
            int8 = fp32.with_name(fp32.name.replace("fp32", "int8-cpu"))
            if not int8.exists():
                make_variant(fp32, int8, QuantizeOptions("int8-cpu"), calib=CalibrationSet.open(CALIB),
                             cache=work / f"int8-cpu-s{stride}{tag}.calib.json")
            paths[f"fp32/{stride}/{name}"] = fp32
            paths[f"int8-cpu/{stride}/{name}"] = int8
    return paths


def time_models(paths: dict[str, Path], iters: int, rounds: int) -> dict[str, float]:
    """Median ms per inference, the models taking turns (experiments/reference.py's timing)."""
    from experiments import reference

    shapes = {i.name: i.shape for i in _session(next(iter(paths.values()))).get_inputs()}
    rng = np.random.default_rng(1)
    feed = {"rgb": rng.integers(0, 256, shapes["rgb"], dtype=np.uint8),
            "depth": rng.uniform(0.5, 5, shapes["depth"]).astype(np.float32)}
    times = reference.time_models(paths, iters, rounds, warmup_s=1.0, feed=feed)
    return {k: float(np.median(v)) for k, v in times.items()}


def _session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def section(result: dict) -> str:
    acc, lat = result["accuracy"], result["latency_ms"]
    lines = [BEGIN, "", f"Measured by `python -m experiments.output_stride` on {result['host']} "
             f"({result['date']}); numbers in runs/output-stride/results.json.", "",
             "| output stride | test mIoU (%), ensemble | RGB head | " + " | ".join(
                 f"{p} {o} (ms)" for p in ("FP32", "INT8-CPU") for o in OUTPUTS) + " |",
             "|---|---|---|" + "---|" * (2 * len(OUTPUTS))]
    for stride in STRIDES:
        a = acc[str(stride)]
        cells = [f"{lat[f'{p}/{stride}/{o}']:.1f}" for p in ("fp32", "int8-cpu") for o in OUTPUTS]
        lines.append(f"| {stride} | {100 * a['ensemble']:.2f} | {100 * a['rgb']:.2f} | " + " | ".join(cells) + " |")
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("runs/precision-r18/best.pt"))
    parser.add_argument("--work", type=Path, default=Path("runs/output-stride"))
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--iters", type=int, default=40, help="timed inferences per model (default: 40)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of turns, spread over the run (default: 4)")
    parser.add_argument("--docs", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    import datetime

    result = {"host": f"{platform.processor() or platform.machine()}, {_cpu_name()}",
              "date": datetime.date.today().isoformat(),
              "accuracy": {str(k): v for k, v in accuracy(args.checkpoint, args.work).items()},
              "latency_ms": time_models(latency_models(args.work, args.height, args.width), args.iters, args.rounds)}
    (args.work / "results.json").write_text(json.dumps(result, indent=1))
    text = args.docs.read_text()
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section(result) + text[text.index(END) + len(END):]
        args.docs.write_text(text)
    print(section(result))
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
